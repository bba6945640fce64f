/// The Consul backend. (Issue 6: not written yet.)
public enum ConsulBackendPlaceholder {}
