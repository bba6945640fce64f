#if canImport(Glibc)
import Glibc
#endif

/// Memory and CPU of a local process, from /proc (Linux): the bench reads the registry's,
/// the server its own for its process metrics.
public struct ProcessStats: Sendable, Codable {
    /// Resident memory now, in bytes.
    public var residentBytes: Int
    /// Peak resident memory, in bytes.
    public var peakResidentBytes: Int
    /// User plus system CPU time consumed so far, in seconds.
    public var cpuSeconds: Double

    /// Reads the stats of `pid` ("self" for this process); nil when /proc has no such process.
    public static func read(pid: Int32) -> ProcessStats? {
        self.read(process: "\(pid)")
    }

    /// This process's stats.
    public static func readOwn() -> ProcessStats? {
        self.read(process: "self")
    }

    /// Open file descriptors of this process.
    public static func ownOpenFileDescriptors() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil {
            count += 1
        }
        return max(count - 3, 0)  // ".", ".." and the directory's own descriptor
    }

    private static func read(process: String) -> ProcessStats? {
        guard let status = readFile("/proc/\(process)/status"), let stat = readFile("/proc/\(process)/stat") else {
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
            contents += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return contents
    }
}
