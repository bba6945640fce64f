extension TestBackends {
    /// The etcd backend's harnesses. (Not written yet.)
    static var etcd: [TestBackend] { [] }
}
