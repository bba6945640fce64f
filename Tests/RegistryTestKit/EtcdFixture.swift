public import Foundation
import Synchronization

/// Real etcd servers for tests: one member or a cluster, on ephemeral loopback client and
/// peer ports, with their data in a temporary directory.
///
/// ``stop()`` stops every member and removes the directory. Each member also runs under
/// a small shell watchdog that kills it (and removes the directory) as soon as the test
/// process is gone, however it ended, so no etcd outlives the tests.
public final class EtcdFixture: Sendable {
    /// One member's ports and data directory.
    public struct Member: Sendable {
        public let name: String
        public let clientPort: Int
        public let peerPort: Int
        public let dataDirectory: URL
        /// Whether clients connect with TLS.
        public let tls: Bool

        /// `127.0.0.1:<client port>`
        public var endpoint: String { "127.0.0.1:\(self.clientPort)" }
        var clientURL: String { "\(self.tls ? "https" : "http")://127.0.0.1:\(self.clientPort)" }
        var peerURL: String { "http://127.0.0.1:\(self.peerPort)" }
    }

    public let members: [Member]
    /// Holds every member's data directory.
    public let directory: URL
    private let token: String
    private let extraArguments: [String]
    private let processes: Mutex<[Int: ChildProcess]>

    /// Every member's client endpoint, in member order.
    public var endpoints: [String] { self.members.map(\.endpoint) }

    private init(members: [Member], directory: URL, token: String, extraArguments: [String]) {
        self.members = members
        self.directory = directory
        self.token = token
        self.extraArguments = extraArguments
        self.processes = Mutex([:])
    }

    /// Starts a cluster of `count` members (1 by default) and waits until every member
    /// serves clients. Ports that another process took meanwhile are picked again.
    /// `arguments` are added to every member's command line. With `tls`, clients must
    /// connect with TLS and present a certificate from its CA.
    public static func start(members count: Int = 1, arguments: [String] = [], tls: EtcdCertificates? = nil) async throws -> EtcdFixture {
        var lastError: (any Error)?
        for _ in 0..<5 {
            let directory = Self.scratchDirectory.appendingPathComponent("aero-arc-etcd-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let ports = try LoopbackPorts.pick(count * 2)
            let members = (0..<count).map { index in
                Member(
                    name: "m\(index)",
                    clientPort: ports[index * 2],
                    peerPort: ports[index * 2 + 1],
                    dataDirectory: directory.appendingPathComponent("m\(index)"),
                    tls: tls != nil
                )
            }
            let tlsArguments = tls.map {
                ["--cert-file", $0.serverCertificatePath, "--key-file", $0.serverKeyPath, "--trusted-ca-file", $0.caPath, "--client-cert-auth"]
            }
            let fixture = EtcdFixture(
                members: members,
                directory: directory,
                token: "aero-arc-\(UUID().uuidString)",
                extraArguments: arguments + (tlsArguments ?? [])
            )
            do {
                try await fixture.start(members: Array(0..<count))
                return fixture
            } catch {
                lastError = error
                await fixture.stop()
            }
        }
        throw lastError ?? ChildProcessError("etcd did not start")
    }

    /// Starts the given members (again, after ``stop(member:)``, with their data) and waits
    /// until each serves clients. A member that rejoins a cluster without a quorum only
    /// serves once enough members are back, so restart those together.
    public func start(members indexes: [Int]) async throws {
        let etcd = try TestPrograms.executable("etcd")
        var started: [(Int, ChildProcess)] = []
        for index in indexes {
            let member = self.members[index]
            let cluster = self.members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
            let arguments = [
                "--name", member.name,
                "--data-dir", member.dataDirectory.path,
                "--listen-client-urls", member.clientURL,
                "--advertise-client-urls", member.clientURL,
                "--listen-peer-urls", member.peerURL,
                "--initial-advertise-peer-urls", member.peerURL,
                "--initial-cluster", cluster,
                "--initial-cluster-token", self.token,
                "--initial-cluster-state", "new",
                // Quick elections: a stopped leader is replaced within about half a second.
                "--heartbeat-interval", "50",
                "--election-timeout", "500",
                "--logger", "zap",
                "--log-outputs", "stderr",
            ] + self.extraArguments
            let process = try ChildProcess(
                try TestPrograms.executable("sh"),
                ["-c", Self.watchdog, "etcd-watchdog", String(getpid()), self.directory.path, etcd.path] + arguments
            )
            self.processes.withLock { $0[index] = process }
            started.append((index, process))
        }
        for (index, process) in started {
            _ = try await process.waitForStandardErrorLine(timeout: .seconds(30)) { line in
                if line.contains("address already in use") {
                    return true
                }
                return line.contains("serving client traffic")
            }
            if process.standardError.contains("address already in use") {
                throw ChildProcessError("etcd member \(self.members[index].name) found a port in use:\n\(process.standardError)")
            }
        }
    }

    /// Kills a member at once, as a crash would, keeping its data for ``start(members:)``.
    public func stop(member index: Int) async throws {
        guard let process = self.processes.withLock({ $0.removeValue(forKey: index) }) else { return }
        process.signal(SIGTERM)  // the watchdog kills etcd with SIGKILL and exits
        try await process.waitForExit(timeout: .seconds(10))
    }

    /// Whether a member is running.
    public func isRunning(member index: Int) -> Bool {
        self.processes.withLock { $0[index]?.isRunning ?? false }
    }

    /// Stops every member and removes the data directory.
    public func stop() async {
        let running = self.processes.withLock { processes in
            defer { processes = [:] }
            return Array(processes.values)
        }
        for process in running {
            process.signal(SIGTERM)
        }
        for process in running {
            _ = try? await process.waitForExit(timeout: .seconds(10))
        }
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Where data directories go: memory-backed /dev/shm when there is one (etcd syncs
    /// every write to disk, which makes tests slow on real disks for no benefit here),
    /// else the temporary directory.
    static var scratchDirectory: URL {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory), isDirectory.boolValue,
            FileManager.default.isWritableFile(atPath: "/dev/shm")
        {
            return URL(fileURLWithPath: "/dev/shm")
        }
        return FileManager.default.temporaryDirectory
    }

    /// Runs etcd (`$3...`) in the background and watches it. SIGTERM kills it at once (a
    /// crash, for the failover tests). When the test process (`$1`) is gone, it kills etcd
    /// and removes the data directory (`$2`). It polls rather than waits on etcd, so
    /// nothing keeps it from noticing that the test process has gone.
    private static let watchdog = #"""
        parent=$1; root=$2; shift 2
        "$@" &
        child=$!
        trap 'kill -KILL "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM INT
        alive() {
          { read -r stat < "/proc/$1/stat"; } 2>/dev/null || return 1
          rest=${stat##*) }
          [ "${rest%% *}" != Z ] && [ "${rest%% *}" != X ]
        }
        while :; do
          if ! alive "$parent"; then
            kill -KILL "$child" 2>/dev/null
            rm -rf "$root"
            exit 0
          fi
          alive "$child" || exit 1
          sleep 0.2
        done
        """#
}
