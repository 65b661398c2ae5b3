import GreenlightStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The database's files on disk, and who may read them.
///
/// The database holds the audit log, every gate's request and the tokens' hashes: only the account that runs
/// Greenlight should read or write it. SQLite creates a new database with the process's umask (0644 as a rule) and
/// gives the write-ahead log (`-wal`) and shared-memory file (`-shm`) it creates later the database file's mode, so the
/// database file is created owner-only (0600) before SQLite opens it, and looser modes left by earlier versions are
/// tightened.
enum DatabaseFiles {
    /// The database file and the two SQLite keeps beside it in WAL mode.
    static func paths(of database: String) -> [String] {
        [database, database + "-wal", database + "-shm"]
    }

    /// Creates the database file at `path` with mode 0600 if there is none (and `create`), and takes the group's and
    /// others' permissions off it and off its `-wal` and `-shm` files where they have any.
    ///
    /// - Throws: ``StoreError/databaseFileUnavailable(path:reason:)`` when the file cannot be created, and
    ///   ``StoreError/databaseExposed(path:mode:)`` when a file others may read cannot be tightened (it belongs to
    ///   another account).
    static func restrictToOwner(_ path: String, create: Bool) throws(StoreError) {
        if create {
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if descriptor >= 0 {
                close(descriptor)
            } else if errno != EEXIST {
                throw .databaseFileUnavailable(path: path, reason: String(cString: strerror(errno)))
            }
        }
        for file in paths(of: path) {
            var status = stat()
            guard stat(file, &status) == 0 else { continue }  // no such file yet: SQLite creates it with the database's mode
            let mode = status.st_mode & 0o7777
            guard mode & 0o077 != 0 else { continue }
            if chmod(file, mode & 0o700) != 0 { throw .databaseExposed(path: file, mode: Int(mode)) }
        }
    }
}
