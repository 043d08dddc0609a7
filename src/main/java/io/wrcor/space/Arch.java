package io.wrcor.space;

/**
 * An architecture of some search space. Its {@code toString()} is the canonical string (what results
 * files, ground-truth tables and arch files hold), and two architectures are equal when their
 * canonical strings are.
 */
public interface Arch {
    /** The canonical string: {@code space.parse(a.toString()).equals(a)}. */
    @Override
    String toString();
}
