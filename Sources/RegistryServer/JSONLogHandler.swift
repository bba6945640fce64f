#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging
import RegistryCore

/// Writes each log record as one JSON object per line to standard error, for log
/// collectors: `{"time":"…","level":"info","label":"…","message":"…",<metadata>…}`.
///
/// Written here because swift-log ships only a text handler.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = self.metadata
        if let provided = self.metadataProvider?.get() {
            merged.merge(provided) { _, new in new }
        }
        if let metadata = event.metadata {
            merged.merge(metadata) { _, new in new }
        }
        let line = Self.render(
            time: SystemWallClock().now(),
            level: event.level,
            label: self.label,
            message: event.message.description,
            metadata: merged
        )
        var bytes = line
        // One write(2) per line, so concurrent lines do not interleave.
        bytes.withUTF8 { buffer in
            _ = writeToStandardError(buffer)
        }
    }

    /// One JSON line, newline included. Fields fixed by the handler win over metadata keys.
    static func render(
        time: UnixMilliseconds,
        level: Logger.Level,
        label: String,
        message: String,
        metadata: Logger.Metadata
    ) -> String {
        var out = "{\"time\":\"\(Self.iso8601(time))\",\"level\":\"\(level)\",\"label\":"
        Self.appendString(label, to: &out)
        out += ",\"message\":"
        Self.appendString(message, to: &out)
        for key in metadata.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            out += ","
            Self.appendString(key, to: &out)
            out += ":"
            Self.appendValue(metadata[key] ?? "", to: &out)
        }
        out += "}\n"
        return out
    }

    private static func appendValue(_ value: Logger.Metadata.Value, to out: inout String) {
        switch value {
        case .string(let string):
            Self.appendString(string, to: &out)
        case .stringConvertible(let convertible):
            Self.appendString(convertible.description, to: &out)
        case .array(let values):
            out += "["
            for (index, element) in values.enumerated() {
                if index > 0 { out += "," }
                Self.appendValue(element, to: &out)
            }
            out += "]"
        case .dictionary(let dictionary):
            out += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                Self.appendString(key, to: &out)
                out += ":"
                Self.appendValue(dictionary[key] ?? "", to: &out)
            }
            out += "}"
        }
    }

    /// A JSON string literal (RFC 8259 escaping).
    static func appendString(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// "2026-01-01T00:00:00.000Z".
    static func iso8601(_ time: UnixMilliseconds) -> String {
        var seconds = time_t(time.rawValue / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let millis = Int32(((time.rawValue % 1000) + 1000) % 1000)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(millis, 3))Z"
    }
}
