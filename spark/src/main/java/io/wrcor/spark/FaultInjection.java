package io.wrcor.spark;

import java.io.Serial;
import java.io.Serializable;
import org.apache.spark.SparkConf;
import org.apache.spark.TaskContext;

/**
 * Failures on purpose, for the tests of exactly-once results: with {@code spark.wrcor.test.failFirstAttemptOf=P}
 * the first attempt of partition P throws after it has scored its architectures (its work is
 * lost, Spark runs it again); with {@code spark.wrcor.test.exitFirstAttemptOf=P} that attempt's
 * JVM exits at once (an executor lost mid-job). Off unless set.
 */
record FaultInjection(int failFirstAttemptOf, int exitFirstAttemptOf) implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    static FaultInjection fromConf(SparkConf conf) {
        return new FaultInjection(conf.getInt("spark.wrcor.test.failFirstAttemptOf", -1), conf.getInt("spark.wrcor.test.exitFirstAttemptOf", -1));
    }

    void afterScoring(TaskContext ctx) {
        if (ctx.attemptNumber() != 0) return;
        if (ctx.partitionId() == exitFirstAttemptOf) Runtime.getRuntime().halt(137);
        if (ctx.partitionId() == failFirstAttemptOf) {
            throw new IllegalStateException("injected failure of partition " + ctx.partitionId() + ", attempt 0 (spark.wrcor.test.failFirstAttemptOf)");
        }
    }
}
