// Package hfhub downloads a model snapshot from the HuggingFace Hub over its HTTP API, as
// huggingface_hub's snapshot_download does, with every outbound call bounded, the token sent
// only where it belongs, and each file checked before it takes its final name.
//
// # What we rely on from the Hub
//
// Read from huggingface_hub (hf_api.py model_info, file_download.py, utils/_http.py
// hf_raise_for_status, utils/_validators.py validate_repo_id) and the Hub's answers quoted in
// its issues; the test double in package hubtest speaks the same:
//
//   - The file list: GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true
//     (model_info with revision and files_metadata=True; the revision path-escaped, "/" too).
//     The JSON has "sha" (the commit the revision resolved to) and "siblings", one object per
//     file: "rfilename" (its path in the repo, "/"-separated), "size" (bytes), "blobId" (the
//     git blob id, sha1 of "blob <size>\x00<content>") and, for files stored in LFS, "lfs":
//     {"size", "sha256", "pointerSize"}, where size and sha256 are those of the real content
//     (size is then the real size too).
//   - A file: GET {endpoint}/{repo}/resolve/{commit}/{path} (the path escaped segment by
//     segment). A file kept in git is answered there (200, ETag the blob id); an LFS file is
//     a 302 to the Hub's file store (a CDN, or the Xet bridge: another host, presigned URL),
//     with X-Linked-Etag (its sha256), X-Linked-Size and X-Repo-Commit. A relative redirect
//     (a renamed repo) stays on the endpoint. Both hosts honour Range.
//   - Authorization: Bearer <token>. huggingface_hub drops it when a redirect leaves the
//     endpoint's host (the presigned URL carries its own authority): so do we, always.
//   - Errors: 401 for a private or gated repo without a token, and also for a repo that does
//     not exist (the Hub does not tell them apart anonymously); X-Error-Code says more:
//     RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo (403 with a token that has
//     not been granted access); X-Error-Message "Invalid credentials in Authorization header"
//     for a bad token.
//   - Repo ids: [namespace/]name of ASCII letters, digits, "-", "_", ".", starting and ending
//     with a letter, digit or "_", the name at most 96 long, no "--" or "..", not ending in
//     ".git". We require the namespace (owner/name).
//   - The endpoint: HF_ENDPOINT, default https://huggingface.co (see EndpointFromEnv).
//
// # The download
//
// Snapshot fetches the file list once (anonymously; see Options.Token for when a token is
// asked for), then downloads every file of that commit into Options.Dir, an os.Root, so no
// name and no symbolic link can lead a write outside it. Each file is written under a
// temporary name in Dir's .hfhub folder, resumed with Range after a cut connection or a
// stalled one, checked against its size and its sha256 (LFS files) or its git blob id (the
// others), then renamed to its name: a file under its final name is always complete and
// checked. A file already there from an earlier snapshot (recorded in .hfhub/manifest.jsonl
// with the same checksum, size and modification time) is kept, unless Options.Force. Before
// downloading, the model's real size (from the file list) is compared with Options.MaxBytes
// and the free space of Dir's file system.
package hfhub
