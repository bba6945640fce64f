extension TestBackends {
    /// The consul backend's harnesses. (Not written yet.)
    static var consul: [TestBackend] { [] }
}
