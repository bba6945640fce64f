public import Foundation
import Synchronization

/// A program started by a test: its output captured, and always stopped by the end.
public final class ChildProcess: Sendable {
    private let process: Process
    private let output = CapturedOutput()
    public let commandLine: String

    /// Starts `executable` with `arguments`; `environment` entries are added to this
    /// process's environment (a nil value removes a variable).
    public init(_ executable: URL, _ arguments: [String], environment: [String: String?] = [:]) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment {
            merged[key] = value
        }
        process.environment = merged
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        self.process = process
        self.commandLine = ([executable.path] + arguments).joined(separator: " ")
        let output = self.output
        stdout.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil }  // end of file
            output.text.withLock { $0.stdout += String(decoding: data, as: UTF8.self) }
        }
        stderr.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil }
            output.text.withLock { $0.stderr += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    deinit {
        if self.process.isRunning {
            self.process.terminate()
        }
    }

    public var standardOutput: String { self.output.text.withLock { $0.stdout } }
    public var standardError: String { self.output.text.withLock { $0.stderr } }
    public var isRunning: Bool { self.process.isRunning }
    public var processIdentifier: Int32 { self.process.processIdentifier }

    /// Sends a signal (SIGTERM by default).
    public func signal(_ signal: Int32 = SIGTERM) {
        kill(self.process.processIdentifier, signal)
    }

    /// Waits for the process to exit and returns its status.
    /// - Throws: when it is still running after `timeout` (it is then killed).
    @discardableResult
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while self.process.isRunning {
            if ContinuousClock.now > deadline {
                self.process.terminate()
                throw ChildProcessError("\(self.commandLine) did not exit within \(timeout)\n\(self.standardError)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Let the readability handlers drain what is left in the pipes.
        try await Task.sleep(for: .milliseconds(50))
        return self.process.terminationStatus
    }

    /// Waits until a line of standard error satisfies `predicate` and returns it.
    public func waitForStandardErrorLine(
        timeout: Duration = .seconds(30),
        where predicate: (Substring) -> Bool
    ) async throws -> Substring {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let line = self.standardError.split(separator: "\n").first(where: predicate) {
                return line
            }
            if !self.process.isRunning {
                throw ChildProcessError("\(self.commandLine) exited with \(self.process.terminationStatus) first:\n\(self.standardError)")
            }
            if ContinuousClock.now > deadline {
                throw ChildProcessError("\(self.commandLine) printed no such line within \(timeout):\n\(self.standardError)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Runs a program to completion.
    public static func run(
        _ executable: URL,
        _ arguments: [String],
        environment: [String: String?] = [:],
        timeout: Duration = .seconds(30)
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let child = try ChildProcess(executable, arguments, environment: environment)
        let status = try await child.waitForExit(timeout: timeout)
        return (status, child.standardOutput, child.standardError)
    }
}

private final class CapturedOutput: Sendable {
    let text: Mutex<(stdout: String, stderr: String)> = Mutex(("", ""))
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) {
        self.description = description
    }
}

/// Where the package's built executables are.
public enum BuiltProducts {
    /// The directory holding the test bundle, which is where SwiftPM puts executables too.
    public static var directory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    /// An executable of this package, which `swift build` must have built.
    public static func executable(_ name: String) throws -> URL {
        let url = self.directory.appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw ChildProcessError("\(url.path) is missing: run `swift build --build-tests` before `swift test`")
        }
        return url
    }
}
