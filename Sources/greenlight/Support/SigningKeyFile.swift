import ArgumentParser
import Foundation
import GreenlightStore
import GreenlightTransparency

/// Where the audit log's signing key comes from: `GREENLIGHT_SIGNING_KEY` (the key itself, or the path of a file
/// holding it), else a key file, generated on first use, readable by its owner only.
struct SigningKeyOptions: ParsableArguments {
    @Option(
        name: .customLong("key-file"),
        help: ArgumentHelp(
            "The log's signing key file, made (mode 0600) if there is none (default: greenlight-signing.key beside a SQLite database). GREENLIGHT_SIGNING_KEY (the key, or its file) comes first.",
            valueName: "path"))
    var keyFile: String?

    @Option(
        help: ArgumentHelp(
            "The log's name, for a key made now: a schema-less URL such as deploys.example.com/greenlight (the checkpoints' origin).",
            valueName: "name"))
    var origin: String?

    /// The key file's name when none is given.
    static let defaultName = "greenlight-signing.key"

    /// The key file: the one given, else `greenlight-signing.key` in a SQLite database's directory — where the server
    /// makes it on first start. A PostgreSQL store has no directory of its own, and its replicas must share one key:
    /// it is given (nil here).
    static func keyFile(given: String?, for location: DatabaseLocation) -> String? {
        if let given { return given }
        guard case .sqlite(let path) = location else { return nil }
        return URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(defaultName).path
    }

    /// The key file for `location`; throws when there is none to use.
    func keyFile(for location: DatabaseLocation) throws -> String {
        guard let file = Self.keyFile(given: keyFile, for: location) else {
            throw ValidationError("give --key-file (or GREENLIGHT_SIGNING_KEY): a PostgreSQL store has no directory to keep its key in")
        }
        return file
    }

    /// The key, read or made; says on standard error when it made one, with the verifier key to hand out.
    func load(for location: DatabaseLocation) throws -> NoteSignerKey {
        try Self.load(keyFile: Self.givenByEnvironment ? "" : keyFile(for: location), origin: origin)
    }

    /// Whether `GREENLIGHT_SIGNING_KEY` gives a key.
    static var givenByEnvironment: Bool {
        ProcessInfo.processInfo.environment["GREENLIGHT_SIGNING_KEY"]?.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty == false
    }

    /// The key from `GREENLIGHT_SIGNING_KEY`, else from `keyFile`, made there (for `origin`) if there is none.
    /// A witness's key (`type` cosignature) is never taken from `GREENLIGHT_SIGNING_KEY`, the log's.
    static func load(keyFile: String, origin: String?, type: NoteKeyType = .ed25519) throws -> NoteSignerKey {
        if type == .ed25519,
            let given = ProcessInfo.processInfo.environment["GREENLIGHT_SIGNING_KEY"]?.trimmingCharacters(in: .whitespacesAndNewlines),
            !given.isEmpty
        {
            // Never quoted back in a message: it may be the key, mangled (quotes kept by an env file, another case).
            if given.uppercased().contains(NoteSignerKeyPrefix.text) { return try Self.parse(given, from: "GREENLIGHT_SIGNING_KEY") }
            guard FileManager.default.fileExists(atPath: given) else {
                throw Exit.fail("GREENLIGHT_SIGNING_KEY is neither a signing key (PRIVATE+KEY+…) nor the path of a file holding one")
            }
            return try Self.read(given, what: "the file GREENLIGHT_SIGNING_KEY names")
        }
        if FileManager.default.fileExists(atPath: keyFile) { return try Self.read(keyFile, what: "--key-file", type: type) }
        let name = origin ?? "\(ProcessInfo.processInfo.hostName)/greenlight"
        let key: NoteSignerKey
        do {
            key = try NoteSignerKey(generatingFor: name, type: type)
        } catch {
            throw ValidationError("--origin: \(error.description)")
        }
        try Self.create(keyFile, holding: key.secretText + "\n")
        printError("made a signing key for \(name) in \(keyFile) (keep it secret, and back it up); its verifier key: \(key.verifier)")
        return key
    }

    /// A key file that must exist (never made here).
    static func readExisting(_ path: String, what: String) throws -> NoteSignerKey {
        guard FileManager.default.fileExists(atPath: path) else { throw Exit.fail("\(what): there is no key file \(path)") }
        return try read(path, what: what)
    }

    /// Moves the key in `keyFile` aside (to `keyFile.<key ID>.previous`) and makes a new key of the same name there.
    static func rotate(keyFile: String) throws -> (previous: NoteSignerKey, previousFile: String, current: NoteSignerKey) {
        let previous = try readExisting(keyFile, what: "--key-file")
        let previousFile = "\(keyFile).\(previous.verifier.description.split(separator: "+")[1]).previous"
        guard !FileManager.default.fileExists(atPath: previousFile) else { throw Exit.fail("\(previousFile) exists already") }
        guard rename(keyFile, previousFile) == 0 else { throw Exit.fail("cannot move \(keyFile) aside: \(String(cString: strerror(errno)))") }
        let current: NoteSignerKey
        do { current = try NoteSignerKey(generatingFor: previous.verifier.name) } catch { throw Exit.fail("\(error.description)") }
        try create(keyFile, holding: current.secretText + "\n")
        // The last checkpoint `audit checkpoint` signed, countersigned by the new key: the next one must still extend it.
        let last = keyFile + ".checkpoint"
        if let data = FileManager.default.contents(atPath: last), let text = String(data: data, encoding: .utf8) {
            do {
                var note = try SignedNote(parsing: text)
                _ = try note.open(with: [previous.verifier])
                note.signatures.append(try current.signature(for: note.text))
                try OutputFile.replace(last, with: Array(note.encoded.utf8))
            } catch let error as NoteError {
                throw Exit.fail("\(last): \(error.description)")
            }
        }
        return (previous, previousFile, current)
    }

    /// Reads a key file: a regular file of this account's, not a symbolic link, that nobody else may read.
    private static func read(_ path: String, what: String, type: NoteKeyType = .ed25519) throws -> NoteSignerKey {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw Exit.fail("\(what): cannot read \(path): \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { throw Exit.fail("\(what): \(path) is not a regular file") }
        guard status.st_uid == geteuid() else { throw Exit.fail("\(what): \(path) belongs to another account") }
        if status.st_mode & 0o077 != 0 {
            throw Exit.fail("\(what): \(path) may be read by others (mode \(String(status.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        guard let data = try handle.read(upToCount: 4096), let text = String(validating: data, as: UTF8.self) else {
            throw Exit.fail("\(what): \(path) is not a signing key")
        }
        let key = try parse(text, from: path)
        guard key.verifier.type == type else {
            throw Exit.fail(
                "\(what): \(path) holds a \(key.verifier.type == .ed25519 ? "log's" : "witness's") key, not a \(type == .ed25519 ? "log's" : "witness's")"
            )
        }
        return key
    }

    private static func parse(_ text: String, from source: String) throws -> NoteSignerKey {
        do {
            return try NoteSignerKey(text)
        } catch {
            throw Exit.fail("\(source): \(error.description)")
        }
    }

    /// Writes `text` to a new file at `path`, created 0600 (never over an existing one) and synced.
    private static func create(_ path: String, holding text: String) throws {
        let file = try OutputFile(path)
        try file.write(Array(text.utf8))
        try file.close()
    }
}

/// The prefix that tells a signing key from the path of a file holding one.
enum NoteSignerKeyPrefix {
    static let text = "PRIVATE+KEY+"
}
