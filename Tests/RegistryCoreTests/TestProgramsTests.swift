import Foundation
@testable import RegistryTestKit
import Testing

@Suite("The list of programs tests start")
struct TestProgramsTests {
    @Test("every listed program is installed: scripts/test installed what the list names")
    func everyProgramIsInstalled() throws {
        let packages = try TestPrograms.packages()
        #expect(packages["etcdctl"] == "etcd-client")
        #expect(packages["redis-server"] == "redis-server")
        for program in packages.keys.sorted() {
            #expect(throws: Never.self, "\(program)") { try TestPrograms.executable(program) }
        }
    }

    @Test("a program that is not listed is refused, so nothing is spawned without an install step")
    func unlistedProgramIsRefused() {
        #expect {
            try TestPrograms.executable("ls")
        } throws: { error in
            "\(error)" == "ls is not listed in scripts/test-programs: add it with the Debian package that provides it"
        }
    }

    @Test("a missing program fails with one line naming it and its package")
    func missingProgramNamesItsPackage() {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("no-programs-\(UUID().uuidString)").path
        #expect {
            try TestPrograms.executable("etcdctl", packages: ["etcdctl": "etcd-client"], searching: [empty])
        } throws: { error in
            "\(error)" == "etcdctl is not installed (Debian package etcd-client); scripts/test installs it"
        }
    }

    @Test("lines are a program and a package; comments and blank lines are skipped; anything else is an error")
    func parsing() throws {
        #expect(try TestPrograms.parse("# comment\n\netcd   etcd-server  # trailing\n") == ["etcd": "etcd-server"])
        #expect(throws: TestProgramError.self) { try TestPrograms.parse("etcd\n") }
        #expect(throws: TestProgramError.self) { try TestPrograms.parse("etcd etcd-server extra\n") }
    }
}
