public import Foundation

/// The programs tests start, found through the one list `scripts/test` installs from.
///
/// `scripts/test-programs` names every program a test or fixture spawns and the Debian
/// package that provides it. Fixtures ask for a program here instead of hard-coding a path:
/// a missing program fails with one line naming it and its package, and a program that is
/// not on the list is refused, so nothing can be spawned without an install step.
public enum TestPrograms {
    /// The list, read from the source tree this file was compiled from.
    static let listPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // RegistryTestKit
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // the package
        .appendingPathComponent("scripts/test-programs")

    /// The package's root directory.
    static var packageRoot: URL {
        self.listPath.deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The Python interpreter of the environment `scripts/test` creates for the
    /// interoperability tests (`.build/test-python`, with the packages pinned in
    /// `Tests/Interop/requirements.txt`), and the directory of the Python scripts.
    /// - Throws: ``TestProgramError`` when the environment has not been created.
    public static func interopPython() throws -> (python: URL, scripts: URL) {
        let python = self.packageRoot.appendingPathComponent(".build/test-python/bin/python3")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw TestProgramError(
                "the Python environment with grpcio is missing (\(python.path)); scripts/test creates it from Tests/Interop/requirements.txt"
            )
        }
        return (python, self.packageRoot.appendingPathComponent("Tests/Interop"))
    }

    /// The executable of `program`, from `PATH` or the usual system directories.
    /// - Throws: ``TestProgramError`` when it is not on the list or not installed.
    public static func executable(_ program: String) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        return try self.executable(program, packages: try self.packages(), searching: directories)
    }

    /// The executable of `program` in the first of `directories` that has it.
    static func executable(_ program: String, packages: [String: String], searching directories: [String]) throws -> URL {
        guard let package = packages[program] else {
            throw TestProgramError(
                "\(program) is not listed in scripts/test-programs: add it with the Debian package that provides it"
            )
        }
        for directory in directories {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(program)
            if FileManager.default.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        throw TestProgramError("\(program) is not installed (Debian package \(package)); scripts/test installs it")
    }

    /// Program name → Debian package, as listed.
    static func packages() throws -> [String: String] {
        let text: String
        do {
            text = try String(contentsOf: self.listPath, encoding: .utf8)
        } catch {
            throw TestProgramError("cannot read the list of test programs at \(self.listPath.path): \(error.localizedDescription)")
        }
        return try self.parse(text)
    }

    /// Parses the list: `program package` per line; `#` starts a comment.
    static func parse(_ text: String) throws -> [String: String] {
        var packages: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let content = line.prefix { $0 != "#" }
            let fields = content.split(whereSeparator: \.isWhitespace)
            if fields.isEmpty { continue }
            guard fields.count == 2 else {
                throw TestProgramError("scripts/test-programs line \(number + 1): expected a program and a package, got '\(content)'")
            }
            packages[String(fields[0])] = String(fields[1])
        }
        return packages
    }
}

/// A program a test needs is missing or unlisted: one line saying which, and how to get it.
public struct TestProgramError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
