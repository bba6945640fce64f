// Generated etcd v3 API code goes here (issue 5).
public enum EtcdProtosPlaceholder {}
