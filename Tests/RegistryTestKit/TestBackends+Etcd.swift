extension TestBackends {
    /// The etcd backend on the etcd shared by the test process, on a manual clock.
    static var etcd: [TestBackend] {
        [TestBackend(name: "etcd") { try await EtcdHarness.shared() }]
    }

    /// The etcd backend with a 60 s store timeout, for bursts a debug build of the
    /// registry needs longer than the usual 5 s to clear: it completes about 400 etcd
    /// calls a second on one core, and every call of a burst finishes near the end.
    /// The etcd backend at `--etcd-timeout 1s`, the tightest setting an operator would use.
    public static var etcdWithShortTimeout: [TestBackend] {
        [
            TestBackend(name: "etcd (1s store timeout)") {
                var harness = try await EtcdHarness.shared()
                harness.timeout = .seconds(1)
                return harness
            }
        ]
    }

    static var etcdForBursts: [TestBackend] {
        [
            TestBackend(name: "etcd (60s store timeout)") {
                var harness = try await EtcdHarness.shared()
                harness.timeout = .seconds(60)
                return harness
            }
        ]
    }
}
