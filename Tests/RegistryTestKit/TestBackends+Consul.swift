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

    /// The Consul double with a 60 s store timeout, for bursts of a thousand calls at once:
    /// a debug build and the double share two cores with the burst, and at the usual 2 s a
    /// few of the thousand time out on a busy machine (the burst tests the server's
    /// HTTP/2 limits, not the store's latency).
    static var consulForBursts: [TestBackend] {
        [
            TestBackend(name: "consul (double, 60s store timeout)") {
                var harness = ConsulHarness.double()
                harness.timeout = .seconds(60)
                return harness
            }
        ]
    }
}
