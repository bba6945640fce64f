import Foundation

extension EtcdFixture {
    /// Runs `etcdctl` (API v3) against the running members and returns its standard output.
    @discardableResult
    public func ctl(_ arguments: [String], user: String? = nil) async throws -> String {
        let running = self.members.indices.filter { self.isRunning(member: $0) }.map { self.members[$0].endpoint }
        var global = ["--endpoints=\(running.joined(separator: ","))", "--command-timeout=5s"]
        if let user {
            global.append("--user=\(user)")
        }
        let result = try await ChildProcess.run(
            try TestPrograms.executable("etcdctl"),
            global + arguments,
            environment: ["ETCDCTL_API": "3"]
        )
        guard result.status == 0 else {
            throw ChildProcessError("etcdctl \(arguments.joined(separator: " ")) failed with \(result.status):\n\(result.stderr)")
        }
        return result.stdout
    }

    /// How many keys start with `prefix`, read with etcdctl (so not through the code under test).
    public func keyCount(prefix: String, user: String? = nil) async throws -> Int {
        let output = try await self.ctl(["get", prefix, "--prefix", "--keys-only", "-w", "json"], user: user)
        let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        return (object?["count"] as? NSNumber)?.intValue ?? 0
    }

    /// The index of the member that leads the cluster now.
    public func leader() async throws -> Int {
        let output = try await self.ctl(["endpoint", "status", "-w", "json"])
        let statuses = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] ?? []
        for status in statuses {
            guard
                let endpoint = status["Endpoint"] as? String,
                let fields = status["Status"] as? [String: Any],
                let header = fields["header"] as? [String: Any],
                let member = header["member_id"] as? NSNumber,
                let leader = fields["leader"] as? NSNumber,
                member == leader,
                let index = self.members.firstIndex(where: { $0.endpoint == endpoint })
            else { continue }
            return index
        }
        throw ChildProcessError("no member reports itself as leader:\n\(output)")
    }

    /// Turns on etcd's authentication with a root user of this password.
    public func enableAuthentication(rootPassword: String) async throws {
        try await self.ctl(["role", "add", "root"])
        try await self.ctl(["user", "add", "root", "--new-user-password=\(rootPassword)"])
        try await self.ctl(["user", "grant-role", "root", "root"])
        try await self.ctl(["auth", "enable"])
    }
}
