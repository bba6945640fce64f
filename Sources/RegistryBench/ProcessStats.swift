#if canImport(Glibc)
import Glibc
#endif

/// Memory and CPU of a local process, from /proc (Linux).
public struct ProcessStats: Sendable, Codable {
    /// Resident memory now, in bytes.
    public var residentBytes: Int
    /// Peak resident memory, in bytes.
    public var peakResidentBytes: Int
    /// User plus system CPU time consumed so far, in seconds.
    public var cpuSeconds: Double

    /// Reads the stats of `pid`; nil when /proc has no such process.
    public static func read(pid: Int32) -> ProcessStats? {
        guard let status = readFile("/proc/\(pid)/status"), let stat = readFile("/proc/\(pid)/stat") else {
            return nil
        }
        func kilobytes(_ field: String) -> Int? {
            status.split(separator: "\n").first { $0.hasPrefix(field + ":") }
                .flatMap { $0.split(separator: " ").dropFirst().first }
                .flatMap { Int($0) }
        }
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]),
              let rss = kilobytes("VmRSS"), let peak = kilobytes("VmHWM")
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ProcessStats(residentBytes: rss * 1024, peakResidentBytes: peak * 1024, cpuSeconds: (user + system) / ticks)
    }

    private static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var contents = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            contents += String(cString: buffer)
        }
        return contents
    }
}
