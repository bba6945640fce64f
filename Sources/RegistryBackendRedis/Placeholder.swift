/// The Redis backend. (Issue 4: not written yet.)
public enum RedisBackendPlaceholder {}
