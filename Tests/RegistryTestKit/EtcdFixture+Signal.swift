public import Foundation

extension EtcdFixture {
    /// Sends `signal` to a member's etcd process itself, not to the watchdog around it:
    /// SIGSTOP pauses the member (as a stalled VM or disk would) and SIGCONT resumes it.
    public func signal(_ signal: Int32, member index: Int = 0) throws {
        kill(try self.etcdProcessIdentifier(member: index), signal)
    }

    /// The etcd process of a member: the one whose `--data-dir` is the member's own
    /// (a unique temporary directory), found in /proc.
    func etcdProcessIdentifier(member index: Int) throws -> pid_t {
        let dataDirectory = self.members[index].dataDirectory.path
        for entry in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
            guard let pid = pid_t(entry), let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let arguments = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard
                let program = arguments.first, program.hasSuffix("etcd"),
                let flag = arguments.firstIndex(of: "--data-dir"), flag + 1 < arguments.count,
                arguments[flag + 1] == dataDirectory
            else { continue }
            return pid
        }
        throw ChildProcessError("no running etcd process for member \(self.members[index].name)")
    }
}
