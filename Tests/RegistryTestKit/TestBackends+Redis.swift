extension TestBackends {
    /// The redis backend, on a `redis-server` the end-to-end suite starts (time pinned to a manual clock).
    static var redis: [TestBackend] {
        [TestBackend(name: "redis") { try await RedisHarness.exact(suite: "end-to-end") }]
    }
}
