import Foundation

/// This executable started again as `noop-server` in a child process, so the baseline
/// server runs in its own process, as the registry does.
final class NoopChild: @unchecked Sendable {
    let process: Process
    let port: Int

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    static func start() throws -> NoopChild {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["noop-server"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // The child prints "listening PORT" once bound.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                throw NoopChildError(message: "the noop server exited before listening")
            }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let port = text.split(separator: " ").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            throw NoopChildError(message: "the noop server said '\(text)'")
        }
        return NoopChild(process: process, port: port)
    }

    func stop() {
        if self.process.isRunning {
            self.process.terminate()
            self.process.waitUntilExit()
        }
    }
}

struct NoopChildError: Error, CustomStringConvertible {
    let message: String
    var description: String { self.message }
}
