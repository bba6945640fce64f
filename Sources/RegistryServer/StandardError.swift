#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes bytes to standard error with one write(2).
func writeToStandardError(_ buffer: UnsafeBufferPointer<UInt8>) -> Int {
    write(STDERR_FILENO, buffer.baseAddress, buffer.count)
}
