extension TestBackends {
    /// The Consul backend against a ``ConsulDouble``, and against the real Consul at
    /// `CONSUL_HTTP_ADDR` when that is set.
    static var consul: [TestBackend] {
        var backends = [TestBackend(name: "consul (double)") { ConsulHarness.double() }]
        if let real = ConsulHarness.realConsul() {
            backends.append(TestBackend(name: real.name) { real })
        }
        return backends
    }
}
