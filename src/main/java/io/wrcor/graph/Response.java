package io.wrcor.graph;

/**
 * A tensor that a proxy reads during the passes: a node's forward value, the gradient with respect to
 * a node's output, or a node's own contribution to the gradient of its input (for a ReLU: dL/d(out) *
 * 1[x > 0], before it is summed with the other consumers of x).
 */
public record Response(Kind kind, int node) {
    public enum Kind { ACTIVATION, GRAD_OUTPUT, GRAD_INPUT }

    public static Response activation(int node) { return new Response(Kind.ACTIVATION, node); }
    public static Response gradOutput(int node) { return new Response(Kind.GRAD_OUTPUT, node); }
    public static Response gradInput(int node) { return new Response(Kind.GRAD_INPUT, node); }

    public boolean isGradient() { return kind != Kind.ACTIVATION; }
}
