/// Rewrites Go-style command lines into the form the argument parser reads, so that
/// scripts written for the Go registry keep working:
/// - `-flag value` and `-flag=value` (one dash, long name) become `--flag ...`;
/// - `--flag=true` / `--flag=false` for boolean flags become `--flag` / `--no-flag`.
/// Everything after a bare `--` is left alone.
public enum GoFlagSyntax {
    public static func normalize(_ arguments: [String], booleanFlags: Set<String>) -> [String] {
        var result: [String] = []
        var passthrough = false
        for argument in arguments {
            if passthrough || argument == "--" {
                passthrough = true
                result.append(argument)
                continue
            }
            var normalized = argument
            // "-relay-ttl" -> "--relay-ttl"; short options like "-h" and negative numbers stay.
            if argument.hasPrefix("-"), !argument.hasPrefix("--") {
                let name = argument.dropFirst().prefix { $0 != "=" }
                if name.count > 1, name.first?.isLetter == true {
                    normalized = "-" + argument
                }
            }
            if normalized.hasPrefix("--"), let equals = normalized.firstIndex(of: "=") {
                let name = String(normalized[normalized.index(normalized.startIndex, offsetBy: 2)..<equals])
                let value = normalized[normalized.index(after: equals)...].lowercased()
                if booleanFlags.contains(name) {
                    switch value {
                    case "true", "1", "t", "yes", "on": normalized = "--\(name)"
                    case "false", "0", "f", "no", "off": normalized = "--no-\(name)"
                    default: break  // left for the parser to reject
                    }
                }
            }
            result.append(normalized)
        }
        return result
    }
}
