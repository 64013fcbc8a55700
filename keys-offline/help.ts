// tuf-offline --help.
import { exitStatusHelp } from '../platform/cli.ts';

export const HELP = `tuf-offline: offline key ceremony for a TUF repository (no network access)

Commands:
  keygen --name NAME [--type ed25519|ecdsa] [--out DIR]
      Create an admin key: DIR/NAME.key.json (private, encrypted with a passphrase) and
      DIR/NAME.pub.json (public, to share). Passphrase from TUF_KEY_PASSPHRASE or a prompt.
  init-root --out FILE --online-keys FILE
            --root-key PUB [--root-key PUB ...] [--root-threshold N]
            --targets-key PUB [--targets-key PUB ...] [--targets-threshold N]
            [--expires-days D] (365)
      Build root v1 (unsigned). --online-keys is the output of \`tuf-server online-keys show\`.
  bump-root --from ROOT --out FILE [--expires-days D]
      Root N+1 with the same keys and a new expiry (a renewal: D days, default 365, from now),
      unsigned; sign with N's and N+1's keys.
  edit-root --from ROOT --out FILE [--add-root-key PUB ...] [--remove-root-key KEYID ...]
            [--root-threshold N] [--add-targets-key PUB ...] [--remove-targets-key KEYID ...]
            [--targets-threshold N] [--online-keys FILE] [--expires-days D]
      Root N+1 with keys rotated, thresholds changed, or new online keys (from
      \`tuf-server online-keys show\` after \`online-keys rotate\`). KEYID may be a prefix of
      8+ characters. Sign it with the threshold of N's root keys AND of N+1's.
      If the targets keys change, re-sign targets too (edit-targets, sign with the new keys) and
      push both: \`tuf-carry push N+1.root.json --with-targets T.json\`. Keeps N's expiry (see
      Expiry below). Refused (exit 1, nothing written) when the options change nothing: a new
      version with the same keys is bump-root; --expires-days D alone moves only the expiry.
  init-targets --out FILE [--add PATH=LOCALFILE ...] [--expires-days D]
               [--bins-key PUB ... [--bins N] [--bins-threshold T] [--bins-out DIR]]
      Build targets v1 (unsigned). With --bins-key: the layered layout for many projects,
      targets delegating to N bins (default 1024, a power of two up to 4096; about 100 projects
      per bin at 100,000 projects) signed offline by the bins keys, and v1 of every bin written to
      DIR (default: bins/ beside FILE). Projects then go into bins, never into top-level targets.
      Without --bins-key: every project is delegated by top-level targets (small repositories).
      --expires-days D sets the expiry of targets and of the bins (default 365 days).
  edit-targets --from TARGETS --out FILE [--add PATH=LOCALFILE ...] [--remove PATH ...]
               [--expires-days D]
      Targets N+1 from N with targets added, replaced or removed; unsigned. Keeps N's expiry.
  delegate --from TARGETS --out FILE|DIR --project NAME [--bins DIR] [--threshold N] [--expires-days D]
           (--identity ID --issuer URL) ... | --registrations FILE [--accept ID ...]
           [--reserved NAME ...] [--require-provenance ID --provenance-issuer URL | --drop-provenance]
      Delegate NAME's files to OIDC identities (TAP 18), replacing NAME's previous delegation.
      --require-provenance: every file NAME publishes must also carry a build-provenance
      attestation (SLSA v1, Sigstore) signed by this CI identity at this issuer, both compared
      exactly; the requirement is part of what you sign. A re-delegation keeps the requirement
      the delegation has unless --require-provenance replaces it or --drop-provenance removes it.
      Flat layout: writes targets N+1 to FILE. Bin layout (TARGETS delegates to bins): writes
      only the bin NAME falls in, N+1, into the directory DIR (an --out ending in .json is
      refused); --bins names the directory holding the current bins (\`tuf-carry pull\` writes
      them to bins/; a bin missing there is named, with the \`tuf-carry pull --bin BIN\` that
      fetches it). --registrations takes the pending requests
      that \`tuf-carry pull\` wrote, and delegates to the identity that asked for NAME. A contested
      project (several identities asked) is refused, listing each identity, issuer, registration
      id and time, until --accept ID (repeatable) names the registrations you accept.
      Refused: a name reserved by the repository (the folders of top-level targets' own files,
      RESERVED_PROJECT_NAMES, --reserved, the server's list in the registrations file), or one
      that reads like another delegated project or pending registration ("-", "_", "." alike).
  delegate --from TARGETS --out FILE|DIR --registrations FILE [--bins DIR] [--accept ID ...]
           [--skip NAME ...] [--reserved NAME ...] [--expires-days D]
      Bulk approval (no --project): every pending registration in FILE, each project delegated
      (threshold 1) to the identities that asked for it. Bin layout: each affected bin is
      written once, N+1, however many of its projects are approved; top-level targets is not
      touched. Flat layout: one targets N+1 with all of them. Prints one line per project
      (identities with issuer, bin) and a summary. Fail closed: if any project needs a decision
      the whole run is refused and nothing is written, listing every such project with its
      registrations: contested ones (choose with --accept ID; several --accept for several
      projects), ones already delegated (a left-over request: reject it on the server, or
      --accept ID to replace the delegation), reserved and look-alike names. --skip NAME
      leaves a project for a later run.
  undelegate --from TARGETS --out FILE|DIR --project NAME [--bins DIR] [--expires-days D]
      The same without NAME's delegation.
  bump-bins --bins DIR --out DIR [--expires-days D]
      N+1 of every bin in DIR with a new expiry (a renewal: D days, default 365, from now),
      unsigned: re-sign all bins before they expire (\`tuf-carry pull --all-bins\` fetches them;
      \`tuf-offline sign OUT/*.json --key K\`, then \`tuf-carry push OUT/*.json\`).
  migrate-to-bins --from TARGETS --out DIR --bins-key PUB ... [--bins N] [--bins-threshold T]
                  [--expires-days D]
      Move a flat repository to bins: DIR/N+1.targets.json delegates to bins, and DIR/bins/
      holds v1 of every bin with the moved delegations. Moved projects keep their paths, so
      published files keep verifying and maintainers publish as before. Sign all of them, then
      \`tuf-carry push DIR/N+1.targets.json --with-bins DIR/bins\`. Targets keeps N's expiry,
      the new bins get 365 days; --expires-days D sets both.
  sign FILE ... --key KEYFILE [--out FILE]
      Add this key's signature to each FILE (each admin signs on their own machine).
      --out only with one FILE.
  merge --out FILE FILE1 FILE2 ...
      Combine the signatures of copies of the same document.
  status FILE [--root ROOT] [--delegator TARGETS] [--previous PREVIOUS] [--json]
      Who signed, whether each threshold is met, what changed. For a bin, --delegator TARGETS
      checks its delegation there. Exits 3 unless every threshold is met. --json: one JSON
      document (file, version, expires, signatures, thresholds with their verdicts, changes).

Expiry: every command that writes metadata prints the expiry it set and why. An edit
(edit-root, edit-targets, delegate, undelegate) keeps the expiry of the version it edits,
unless --expires-days D gives a new one (D days from now), or that expiry has passed or is
less than 30 days away: then it is renewed to the default (365 days from now) and the output
says so. bump-root and bump-bins are renewals and always set a fresh expiry; new documents
(init-*, the bins of migrate-to-bins) get the default.

Each command takes only the options its line above lists; any other is refused (exit 2).

${exitStatusHelp('status: a threshold is not met (the file needs more signatures)')}`;
