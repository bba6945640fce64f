import Foundation
import RegistryProtos
import SwiftProtobuf

/// Which proto file declares which symbol, built from a serialized FileDescriptorSet:
/// the knowledge behind the reflection service, independent of its v1/v1alpha wire types.
///
/// Written here because no reflection package is available to this project; the
/// descriptors are decoded with a trimmed view of descriptor.proto
/// (proto/aeroarc/registry/internal/descriptor_index.proto).
struct ReflectionIndex: Sendable {
    struct File: Sendable {
        let bytes: Data
        let dependencies: [String]
    }

    /// A question a reflection client asks.
    enum Question {
        case fileByName(String)
        case fileContainingSymbol(String)
        case fileContainingExtension(type: String, number: Int32)
        case extensionNumbers(type: String)
        case listServices
        case unset
    }

    /// The answer to one question.
    enum Answer {
        case files([Data])
        case services([String])
        case extensionNumbers(type: String, numbers: [Int32])
        case error(code: Int32, message: String)
    }

    private(set) var files: [String: File] = [:]
    private(set) var fileBySymbol: [String: String] = [:]
    private(set) var messageTypes: Set<String> = []
    /// The services the server serves, sorted.
    let services: [String]

    /// - Parameters:
    ///   - descriptorSet: a serialized google.protobuf.FileDescriptorSet holding every
    ///     file the services need, imports included.
    ///   - services: the fully qualified names of the services the server serves.
    init(descriptorSet: Data, services: [String]) throws {
        self.services = services.sorted()
        let set = try Aeroarc_Registry_Internal_DescriptorSetFiles(serializedBytes: descriptorSet)
        for bytes in set.file {
            let file = try Aeroarc_Registry_Internal_FileDescriptorIndex(serializedBytes: bytes)
            self.files[file.name] = File(bytes: bytes, dependencies: file.dependency)
            let prefix = file.package.isEmpty ? "" : file.package + "."
            for service in file.service {
                self.fileBySymbol[prefix + service.name] = file.name
                for method in service.method {
                    self.fileBySymbol[prefix + service.name + "." + method.name] = file.name
                }
            }
            for message in file.messageType {
                self.index(message, prefix: prefix, file: file.name)
            }
            for enumType in file.enumType {
                self.fileBySymbol[prefix + enumType.name] = file.name
            }
        }
        for service in self.services where self.fileBySymbol[service] == nil {
            throw ReflectionIndexError(message: "no descriptor declares the served service \(service)")
        }
    }

    private mutating func index(_ message: Aeroarc_Registry_Internal_MessageIndex, prefix: String, file: String) {
        let name = prefix + message.name
        self.fileBySymbol[name] = file
        self.messageTypes.insert(name)
        for nested in message.nestedType {
            self.index(nested, prefix: name + ".", file: file)
        }
        for enumType in message.enumType {
            self.fileBySymbol[name + "." + enumType.name] = file
        }
    }

    func answer(_ question: Question) -> Answer {
        switch question {
        case .fileByName(let name):
            guard self.files[name] != nil else {
                return .error(code: notFound, message: "file '\(name)' not found")
            }
            return .files(self.withDependencies(name))
        case .fileContainingSymbol(let symbol):
            // Tools sometimes send a leading dot.
            let trimmed = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
            guard let file = self.fileBySymbol[trimmed] else {
                return .error(code: notFound, message: "symbol '\(symbol)' not found")
            }
            return .files(self.withDependencies(file))
        case .fileContainingExtension(let type, let number):
            return .error(code: notFound, message: "no extension \(number) of '\(type)'")
        case .extensionNumbers(let type):
            guard self.messageTypes.contains(type) else {
                return .error(code: notFound, message: "type '\(type)' not found")
            }
            return .extensionNumbers(type: type, numbers: [])
        case .listServices:
            return .services(self.services)
        case .unset:
            return .error(code: invalidArgument, message: "the request names no question")
        }
    }

    /// The file followed by everything it imports, transitively, each once.
    private func withDependencies(_ name: String) -> [Data] {
        var ordered: [Data] = []
        var seen: Set<String> = []
        var pending = [name]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted, let file = self.files[next] else { continue }
            ordered.append(file.bytes)
            pending.append(contentsOf: file.dependencies.reversed())
        }
        return ordered
    }
}

private let invalidArgument: Int32 = 3
private let notFound: Int32 = 5

struct ReflectionIndexError: Error, CustomStringConvertible {
    let message: String
    var description: String { self.message }
}

extension ReflectionIndex {
    /// The index of everything this server serves.
    static func served(services: [String]) throws -> ReflectionIndex {
        guard let bytes = Data(base64Encoded: ServedDescriptorSet.base64) else {
            throw ReflectionIndexError(message: "the embedded descriptor set is not valid base64")
        }
        return try ReflectionIndex(descriptorSet: bytes, services: services)
    }
}
