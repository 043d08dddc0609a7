package io.wrcor.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.tensor.DType;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The kernels' declarations read from the sources, and launches checked against them (on every device backend). */
class KernelSignatureTest {
    @Test
    void everyKernelIsDeclaredWithItsParameters() {
        for (String k : KernelBackend.KERNELS) assertTrue(KernelBackend.SIGNATURES.containsKey(k), k);
        List<KernelBackend.Param> relu = KernelBackend.SIGNATURES.get("relu_backward");
        assertTrue(relu.getFirst().pointer() && relu.getFirst().type().equals("real"), relu.toString());
        assertEquals("long", relu.getLast().type(), relu.toString());
    }

    @Test
    void aLaunchThatDoesNotMatchTheDeclarationIsRefusedNamingTheParameter() {
        List<KernelBackend.Param> p = KernelBackend.SIGNATURES.get("relu_backward");
        List<Object> good = new java.util.ArrayList<>();
        for (KernelBackend.Param q : p) {
            good.add(q.pointer() ? new KernelBackend.Mem(1, 4) : switch (q.type()) {
                case "int" -> (Object) 1;
                case "long" -> (Object) 1L;
                default -> (Object) new KernelBackend.Real(1);
            });
        }
        KernelBackend.checkArguments("relu_backward", DType.F32, DType.F64, good);
        // one argument short
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> KernelBackend.checkArguments("relu_backward", DType.F32, DType.F64, good.subList(0, good.size() - 1)));
        assertTrue(e.getMessage().contains("takes " + p.size()), e.getMessage());
        // an int where the declaration has a long
        List<Object> wrongKind = new java.util.ArrayList<>(good);
        wrongKind.set(good.size() - 1, 7);
        e = assertThrows(IllegalArgumentException.class, () -> KernelBackend.checkArguments("relu_backward", DType.F32, DType.F64, wrongKind));
        assertTrue(e.getMessage().contains(p.getLast().name()), e.getMessage());
        // a float32 buffer in a float64 launch
        e = assertThrows(IllegalArgumentException.class, () -> KernelBackend.checkArguments("relu_backward", DType.F64, DType.F64, good));
        assertTrue(e.getMessage().contains("4-byte elements for 8-byte real"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> KernelBackend.checkArguments("no_such_kernel", DType.F32, DType.F64, good));
    }
}
