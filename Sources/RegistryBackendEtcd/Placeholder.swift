/// The etcd backend. (Issue 5: not written yet.)
public enum EtcdBackendPlaceholder {}
