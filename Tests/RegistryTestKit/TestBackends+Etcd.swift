extension TestBackends {
    /// The etcd backend on the etcd shared by the test process, on a manual clock.
    static var etcd: [TestBackend] {
        [TestBackend(name: "etcd") { try await EtcdHarness.shared() }]
    }
}
