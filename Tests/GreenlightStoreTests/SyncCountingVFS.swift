import Foundation
import GRDBSQLite
import Synchronization

/// A test-only SQLite VFS that counts each file's syncs: the platform's default VFS ("unix" on Linux and macOS), with
/// every `sqlite3_io_methods` call forwarded to it and `xSync` counted by the file's path.
///
/// Installed as the process's default VFS, so that the store's own connections use it without knowing: every
/// connection opened afterwards goes through it (the other tests' too, which it changes nothing for). That is how a
/// test sees whether a commit really waited for the disk — a count of `fsync`s the store asked for — rather than
/// trusting a pragma it set.
enum SyncCountingVFS {
    /// Registers the VFS as the default, once; connections opened before keep the VFS they had.
    static func install() {
        _ = registration
    }

    /// How many times SQLite synced the file at `path` (the database, or its `-wal`) through this VFS.
    static func syncs(of path: String) -> Int {
        counts.withLock { $0[canonical(path)] ?? 0 }
    }

    /// `path` with its directory's symbolic links resolved, as SQLite names the files it opens.
    private static func canonical(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().resolvingSymlinksInPath().appendingPathComponent(url.lastPathComponent).path
    }
}

/// Path by file id: the id is kept in the file's header, the path here.
private let paths = Mutex<[String]>([])
private let counts = Mutex<[String: Int]>([:])

/// Each file this VFS opens is laid out as its own `sqlite3_file` (one pointer, to `shimMethods`), the file's id,
/// then the wrapped VFS's file, which SQLite sized for through `szOsFile`.
private let headerSize = 16

private func wrappedFile(_ file: UnsafeMutablePointer<sqlite3_file>?) -> UnsafeMutablePointer<sqlite3_file> {
    UnsafeMutableRawPointer(file!).advanced(by: headerSize).assumingMemoryBound(to: sqlite3_file.self)
}

private func forwarded(_ file: UnsafeMutablePointer<sqlite3_file>) -> sqlite3_io_methods {
    file.pointee.pMethods.pointee
}

/// The VFS this one wraps: the default before ``registration`` made this one the default.
nonisolated(unsafe) private let wrappedVFS: UnsafeMutablePointer<sqlite3_vfs> = {
    guard let vfs = sqlite3_vfs_find(nil) else { fatalError("SQLite has no default VFS") }
    return vfs
}()

private let registration: Void = {
    precondition(MemoryLayout<sqlite3_file>.size <= 8, "sqlite3_file is one pointer")
    let wrapped = wrappedVFS
    _ = shimMethods
    let vfs = UnsafeMutablePointer<sqlite3_vfs>.allocate(capacity: 1)
    vfs.initialize(to: wrapped.pointee)
    vfs.pointee.zName = UnsafePointer(strdup("greenlight-sync-counting"))
    vfs.pointee.szOsFile = Int32(headerSize) + wrapped.pointee.szOsFile
    vfs.pointee.pNext = nil
    // The other entries (delete, access, full path, randomness, time…) are the wrapped VFS's own, which do not read
    // the VFS they are passed beyond what was copied.
    vfs.pointee.xOpen = { _, name, file, flags, outFlags in
        let inner = wrappedFile(file)
        let code = wrappedVFS.pointee.xOpen!(wrappedVFS, name, inner, flags, outFlags)
        guard code == SQLITE_OK, inner.pointee.pMethods != nil else {
            file!.pointee.pMethods = nil
            return code
        }
        let path = name.map { String(cString: $0) } ?? ""
        let id = paths.withLock { paths in
            paths.append(path)
            return paths.count - 1
        }
        UnsafeMutableRawPointer(file!).advanced(by: 8).storeBytes(of: id, as: Int.self)
        file!.pointee.pMethods = UnsafePointer(shimMethods)
        return code
    }
    guard sqlite3_vfs_register(vfs, 1) == SQLITE_OK else { fatalError("could not register the sync-counting VFS") }
}()

/// The file methods of every file this VFS opens: the wrapped file's, with `xSync` counted.
nonisolated(unsafe) private let shimMethods: UnsafeMutablePointer<sqlite3_io_methods> = {
    let methods = UnsafeMutablePointer<sqlite3_io_methods>.allocate(capacity: 1)
    methods.initialize(to: sqlite3_io_methods())
    methods.pointee.iVersion = 3
    methods.pointee.xClose = { file in
        let inner = wrappedFile(file)
        return forwarded(inner).xClose!(inner)
    }
    methods.pointee.xRead = { file, buffer, amount, offset in
        let inner = wrappedFile(file)
        return forwarded(inner).xRead!(inner, buffer, amount, offset)
    }
    methods.pointee.xWrite = { file, buffer, amount, offset in
        let inner = wrappedFile(file)
        return forwarded(inner).xWrite!(inner, buffer, amount, offset)
    }
    methods.pointee.xTruncate = { file, size in
        let inner = wrappedFile(file)
        return forwarded(inner).xTruncate!(inner, size)
    }
    methods.pointee.xSync = { file, flags in
        let id = UnsafeMutableRawPointer(file!).advanced(by: 8).load(as: Int.self)
        let path = paths.withLock { $0[id] }
        counts.withLock { $0[path, default: 0] += 1 }
        let inner = wrappedFile(file)
        return forwarded(inner).xSync!(inner, flags)
    }
    methods.pointee.xFileSize = { file, size in
        let inner = wrappedFile(file)
        return forwarded(inner).xFileSize!(inner, size)
    }
    methods.pointee.xLock = { file, level in
        let inner = wrappedFile(file)
        return forwarded(inner).xLock!(inner, level)
    }
    methods.pointee.xUnlock = { file, level in
        let inner = wrappedFile(file)
        return forwarded(inner).xUnlock!(inner, level)
    }
    methods.pointee.xCheckReservedLock = { file, result in
        let inner = wrappedFile(file)
        return forwarded(inner).xCheckReservedLock!(inner, result)
    }
    methods.pointee.xFileControl = { file, operation, argument in
        let inner = wrappedFile(file)
        return forwarded(inner).xFileControl!(inner, operation, argument)
    }
    methods.pointee.xSectorSize = { file in
        let inner = wrappedFile(file)
        return forwarded(inner).xSectorSize!(inner)
    }
    methods.pointee.xDeviceCharacteristics = { file in
        let inner = wrappedFile(file)
        return forwarded(inner).xDeviceCharacteristics!(inner)
    }
    methods.pointee.xShmMap = { file, region, size, extend, address in
        let inner = wrappedFile(file)
        return forwarded(inner).xShmMap!(inner, region, size, extend, address)
    }
    methods.pointee.xShmLock = { file, offset, count, flags in
        let inner = wrappedFile(file)
        return forwarded(inner).xShmLock!(inner, offset, count, flags)
    }
    methods.pointee.xShmBarrier = { file in
        let inner = wrappedFile(file)
        forwarded(inner).xShmBarrier!(inner)
    }
    methods.pointee.xShmUnmap = { file, delete in
        let inner = wrappedFile(file)
        return forwarded(inner).xShmUnmap!(inner, delete)
    }
    methods.pointee.xFetch = { file, offset, amount, address in
        let inner = wrappedFile(file)
        return forwarded(inner).xFetch!(inner, offset, amount, address)
    }
    methods.pointee.xUnfetch = { file, offset, address in
        let inner = wrappedFile(file)
        return forwarded(inner).xUnfetch!(inner, offset, address)
    }
    return methods
}()
