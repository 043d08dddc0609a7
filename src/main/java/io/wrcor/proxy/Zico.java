package io.wrcor.proxy;

import io.wrcor.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * ZiCo (Li et al., ICLR 2023) as its authors' code computes it (SLDGroup/ZiCo b0fec65,
 * ZeroShotProxy/compute_zico.py, in AZ-NAS's NAS-Bench-201 form: cvlab-yonsei/AZ-NAS 5e6683a,
 * NB201/ZeroShotProxy/compute_zico_score.py, which skips layers without a gradient): the weight
 * gradients of the cross-entropy of two batches, and per conv or linear layer
 * log(sum over its weights with a non-zero std of mean|g| / std(g)), mean and (population) std over
 * the two batches; layers whose sum is zero add nothing. The engine's two batches are the halves of
 * its batch.
 */
public final class Zico {
    private final Map<String, double[]> first = new LinkedHashMap<>();
    private final Map<String, double[]> second = new LinkedHashMap<>();

    /** The weight gradients of batch {@code which} (0 or 1); a layer without one is absent. */
    public void add(int which, Map<String, Tensor> grads, Iterable<String> layers) {
        Map<String, double[]> into = which == 0 ? first : second;
        for (String name : layers) {
            Tensor g = grads.get(name);
            if (g == null) continue;
            into.put(name, g.toDoubles());
        }
    }

    public double score() {
        double s = 0;
        for (Map.Entry<String, double[]> e : first.entrySet()) {
            double[] a = e.getValue(), b = second.get(e.getKey());
            if (b == null) continue; // no gradient reached it in the second batch: the first's alone has no std
            double sum = 0;
            for (int i = 0; i < a.length; i++) {
                double std = Math.abs(a[i] - b[i]) / 2;
                if (std == 0) continue;
                sum += (Math.abs(a[i]) + Math.abs(b[i])) / 2 / std;
            }
            if (sum != 0) s += Math.log(sum);
        }
        return s;
    }
}
