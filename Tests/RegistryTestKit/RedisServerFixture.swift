import Foundation
import NIOCore
import NIOPosix
public import RESP
import Synchronization

/// A `redis-server` started by the tests on a free loopback port, with persistence off.
///
/// It runs under a small shell watchdog that checks five times a second whether the test
/// process is still alive, and kills the server once it is not, so no server outlives the
/// tests even when they are killed (Foundation's `Process` cannot ask the kernel to kill
/// children with their parent, and a pipe-based lifeline does not work because every
/// child inherits the other children's pipe ends). ``stop()`` kills both at once.
public final class RedisServer: Sendable {
    public let host = "127.0.0.1"
    public let port: Int
    /// The server's own process ID (not the watchdog's), for fault tests.
    public let processIdentifier: Int32
    private let watchdog: Process
    private let directory: URL

    private init(port: Int, processIdentifier: Int32, watchdog: Process, directory: URL) {
        self.port = port
        self.processIdentifier = processIdentifier
        self.watchdog = watchdog
        self.directory = directory
    }

    deinit {
        kill(self.processIdentifier, SIGKILL)
        if self.watchdog.isRunning {
            self.watchdog.terminate()
        }
    }

    /// Starts a server and waits until it answers `PING`.
    /// - Parameter port: a port to use (to restart a server where it was); by default a free one,
    ///   picked again if another process takes it first.
    public static func start(port: Int? = nil, extraArguments: [String] = []) async throws -> RedisServer {
        let executable = try TestPrograms.executable("redis-server").path
        var lastError: (any Error)?
        for _ in 0..<5 {
            let chosen: Int
            if let port {
                chosen = port
            } else {
                chosen = try await Self.freePort()
            }
            do {
                return try await Self.launch(executable, port: chosen, extraArguments: extraArguments)
            } catch {
                lastError = error
                if port != nil {
                    // Restarting where a killed server was: its port may take a moment to free.
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
        }
        throw lastError ?? ChildProcessError("redis-server did not start")
    }

    /// Stops the server (SIGKILL) and its watchdog, and waits for the watchdog to exit.
    public func stop() async {
        kill(self.processIdentifier, SIGKILL)
        if self.watchdog.isRunning {
            self.watchdog.terminate()
        }
        for _ in 0..<250 where self.watchdog.isRunning {
            try? await Task.sleep(for: .milliseconds(20))
        }
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Sends a signal to the server process itself (SIGKILL to crash it, SIGSTOP/SIGCONT to hang it).
    public func signal(_ signal: Int32) {
        kill(self.processIdentifier, signal)
    }

    /// Whether the server process is still running (a killed server stays a zombie until
    /// its watchdog reaps it, which does not count).
    public var isRunning: Bool {
        Self.isRunning(self.processIdentifier)
    }

    private static func isRunning(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let afterName = stat.range(of: ") ")
        else {
            return true
        }
        return stat[afterName.upperBound...].first != "Z"
    }

    /// Connection settings for this server.
    public func connectionConfiguration(timeout: Duration = .seconds(2)) -> RESPConnectionConfiguration {
        RESPConnectionConfiguration(host: self.host, port: self.port, connectTimeout: timeout, commandTimeout: timeout)
    }

    /// Runs `body` with a fresh connection to this server.
    public func withConnection<Result: Sendable>(_ body: (RESPConnection) async throws -> Result) async throws -> Result {
        let connection = try await RESPConnection.connect(self.connectionConfiguration())
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    // MARK: Starting

    private static func launch(_ executable: String, port: Int, extraArguments: [String]) async throws -> RedisServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory.path, "--daemonize", "no", "--loglevel", "warning",
        ] + extraArguments
        // The watchdog prints the server's PID, then waits for the test process to go away.
        let script = """
            "$0" "$@" & pid=$!; echo redis-pid:$pid
            while kill -0 \(getpid()) 2>/dev/null; do sleep 0.2; done
            kill -9 $pid 2>/dev/null
            """
        let process = Process()
        process.executableURL = try TestPrograms.executable("sh")
        process.arguments = ["-c", script, executable] + arguments
        let stdout = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stdout
        let output = Mutex("")
        stdout.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil }
            output.withLock { $0 += String(decoding: data, as: UTF8.self) }
        }
        try process.run()

        let deadline = ContinuousClock.now + .seconds(10)
        var pid: Int32?
        while ContinuousClock.now < deadline {
            if pid == nil,
                let line = output.withLock({ $0.split(separator: "\n").first { $0.hasPrefix("redis-pid:") } }),
                let parsed = Int32(line.dropFirst("redis-pid:".count))
            {
                pid = parsed
            }
            if let pid {
                if await Self.answersPing(port: port) {
                    return RedisServer(port: port, processIdentifier: pid, watchdog: process, directory: directory)
                }
                if !Self.isRunning(pid) {
                    process.terminate()
                    try? FileManager.default.removeItem(at: directory)
                    throw ChildProcessError("redis-server on port \(port) exited: \(output.withLock { $0 })")
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        if let pid {
            kill(pid, SIGKILL)
        }
        process.terminate()
        throw ChildProcessError("redis-server on port \(port) did not answer within 10s: \(output.withLock { $0 })")
    }

    /// Whether a server answers on `port` (one that wants `AUTH` first answers too).
    private static func answersPing(port: Int) async -> Bool {
        guard let connection = try? await RESPConnection.connect(RESPConnectionConfiguration(host: "127.0.0.1", port: port)) else {
            return false
        }
        let reply = try? await connection.pipeline([["PING"]]).first
        await connection.close()
        return reply?.string == "PONG" || reply?.errorMessage?.hasPrefix("NOAUTH") == true
    }

    /// A port nobody was listening on a moment ago.
    private static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        let port = channel.localAddress?.port
        try await channel.close()
        guard let port else { throw ChildProcessError("could not find a free port") }
        return port
    }
}

/// One `redis-server` per test suite, started on first use and shared by that suite's
/// tests; each test keeps to its own random key prefix, so nothing is ever flushed. The
/// servers end with the test process (see ``RedisServer``).
public enum RedisServerFixture {
    private static let servers = Mutex<[String: Task<RedisServer, any Error>]>([:])

    /// The server of `suite`, started if this is the first use.
    public static func shared(suite: String) async throws -> RedisServer {
        let task = Self.servers.withLock { servers in
            if let task = servers[suite] {
                return task
            }
            let task = Task { try await RedisServer.start() }
            servers[suite] = task
            return task
        }
        return try await task.value
    }
}
