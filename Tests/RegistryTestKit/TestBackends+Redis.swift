extension TestBackends {
    /// The redis backend's harnesses. (Not written yet.)
    static var redis: [TestBackend] { [] }
}
