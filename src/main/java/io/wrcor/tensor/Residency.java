package io.wrcor.tensor;

import java.lang.foreign.MemorySegment;

/**
 * Where a tensor's current value lives: in its host segment, in a device buffer, both, or neither
 * (a scratch tensor just taken from the pool, whose content is undefined). Shared by every tensor
 * view of one pooled segment, so that a device buffer follows the segment from one use to the next
 * (the device memory is reused as the host pool reuses segments) and is freed with it.
 *
 * <p>Host access through {@link Tensor} brings the value back from the device first when only the
 * device has it; a host write makes the device copy stale. Device backends read and update the
 * state through {@link #device()}, {@link #attach}, {@link #hostCurrent()} and the marks below.
 */
public final class Residency {
    /** A device buffer holding (or able to hold) a tensor's bytes. */
    public interface DeviceCopy {
        /** Copies the buffer into {@code host} (blocking). */
        void download(MemorySegment host);

        /** Gives the buffer back to its backend. */
        void release();
    }

    private DeviceCopy device;
    private boolean hostCurrent, deviceCurrent;
    private final long capacity;

    Residency(boolean hostDefined, long capacity) {
        this.hostCurrent = hostDefined;
        this.capacity = capacity;
    }

    /** Bytes of the host segment behind every view: the size for a device buffer that serves them all. */
    public long capacity() {
        return capacity;
    }

    public DeviceCopy device() {
        return device;
    }

    /** Attaches a device buffer (releasing any previous one); the device copy is not current yet. */
    public void attach(DeviceCopy copy) {
        if (device != null && device != copy) device.release();
        device = copy;
        deviceCurrent = false;
    }

    /** Drops the device buffer, first bringing the value to {@code host} if only the device has it. */
    void detach(MemorySegment host) {
        if (device == null) return;
        beforeHostRead(host);
        free();
    }

    public boolean hostCurrent() {
        return hostCurrent;
    }

    public boolean deviceCurrent() {
        return deviceCurrent;
    }

    /** The device copy was just made equal to the host's (an upload). */
    public void markUploaded() {
        deviceCurrent = true;
    }

    /** A kernel wrote the device copy: the host segment is stale. */
    public void markDeviceWritten() {
        deviceCurrent = true;
        hostCurrent = false;
    }

    /** The content is undefined again (the segment was lent anew); the device buffer is kept for reuse. */
    void markUndefined() {
        hostCurrent = false;
        deviceCurrent = false;
    }

    /** Before a host read. */
    void beforeHostRead(MemorySegment host) {
        if (!hostCurrent && deviceCurrent) {
            device.download(host);
            hostCurrent = true;
        }
    }

    /** Before a host write (which may be partial): the host gets the current value, the device copy goes stale. */
    void beforeHostWrite(MemorySegment host) {
        if (hostCurrent && !deviceCurrent) return; // the common case on the host: nothing to do
        beforeHostRead(host);
        hostCurrent = true;
        deviceCurrent = false;
    }

    /** Frees the device buffer with the segment. */
    void free() {
        if (device != null) device.release();
        device = null;
        deviceCurrent = false;
    }
}
