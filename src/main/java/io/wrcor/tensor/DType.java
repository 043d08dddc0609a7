package io.wrcor.tensor;

/** Element types the engine computes in: float32 for scoring, float64 for synflow (it reaches 1e50). */
public enum DType {
    F32(4), F64(8);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }
}
