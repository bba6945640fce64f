/// The Redis serialization protocol (RESP2) on SwiftNIO. (Issue 4: not written yet.)
public enum RESP {}
