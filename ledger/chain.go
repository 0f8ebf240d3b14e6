package ledger

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The tamper-evident chain. Every committed entry gets a link:
//
//	link = SHA-256(previous link || the entry's canonical content)
//
// where the content is the entry's id, xid, kind, effective and recorded
// instants, actor, reason, reversal, rule version, idempotency key,
// metadata and its postings (account, asset, amount, and the posting's
// own effective instant where it differs from the entry's: the statements
// and the period figures read it), and the first
// link's previous link is 32 zero bytes. Changing, deleting or inserting
// an entry anywhere in the chain therefore changes every later link.
//
// Writers never wait for the chain: links are made after commit, by Seal,
// in (xid, id) order, for the entries whose transactions are below the
// horizon of statements (qHorizon), so that no entry can later commit
// before one already linked. Each Seal makes one block of links.

// ChainHead is the latest link: what finance keeps elsewhere to compare a
// later verification with.
type ChainHead struct {
	Seq      int64     `json:"seq"`
	EntryID  int64     `json:"entry_id"`
	Digest   string    `json:"digest"` // hex
	SealedAt time.Time `json:"sealed_at"`
	// Unsealed counts the committed entries not linked yet: the window in
	// which a change leaves no trace in the chain.
	Unsealed int64 `json:"unsealed"`

	xid string // the head entry's transaction
}

// BrokenLink is the first place where the books and the chain disagree.
type BrokenLink struct {
	Seq     int64  `json:"seq"` // the link's position; for an unchained entry, the next link's
	EntryID int64  `json:"entry_id"`
	Problem string `json:"problem"` // altered, missing, unchained, gap, out_of_order, mismatch_with_expected
	Detail  string `json:"detail"`
}

// Verification is the outcome of a walk of the chain.
type Verification struct {
	OK      bool        `json:"ok"`
	Checked int64       `json:"checked"` // links recomputed
	Head    *ChainHead  `json:"head"`    // the stored head the walk reached; nil when nothing is sealed
	Broken  *BrokenLink `json:"broken"`
}

// chainEntry is what a link covers.
type chainEntry struct {
	id, xid            uint64
	kind               string
	effectiveAt        time.Time
	recordedAt         time.Time
	actor, reason      string
	reversalOf         *int64
	ruleVersion        *int32
	idempotencyKey     *string
	metadata           string
	postings           []string // "account asset amount[ at instant]", by account
	present            bool     // false: the entry row is gone
	linkSeq, linkEntry int64
	storedLink         []byte
}

// chainColumns reads an entry's content, its postings ordered by account
// code byte by byte (COLLATE "C": whatever the database's collation),
// each rendered by PostgreSQL. Verify reads them so; the sealer reads the
// entry (sealColumns) and its postings' rows (qSealPostings) and renders
// them itself (renderPostings), which costs PostgreSQL a third of the
// time: a verification after a seal checks the one rendering against the
// other.
const chainColumns = sealColumns + `,
       (SELECT coalesce(array_agg(coalesce(a.code, '?') || ' ' || p.asset || ' ' || p.amount::text ||
                CASE WHEN p.effective_at = e.effective_at THEN ''
                     ELSE ' at ' || to_char(p.effective_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END
                ORDER BY a.code COLLATE "C", p.id), '{}')
        FROM postings p LEFT JOIN accounts a ON a.id = p.account_id WHERE p.entry_id = e.id)`

// sealColumns is an entry's content but its postings.
const sealColumns = `e.id, e.xid::text, e.kind, e.effective_at, e.recorded_at, e.actor, e.reason, e.reversal_of,
       e.rule_version, e.idempotency_key, e.metadata::text`

// qSealPostings reads the postings of the entries $1 to $2 as
// renderPostings takes them: one range of postings_pkey (entry_id, account_id)
// (a block's entries are near each other by id, in xid order; the few
// others in the range are left aside). A list of the block's ids, "=
// ANY($1)", was planned as a scan of every posting.
// Its accounts' codes come from what the sealer remembers (accountCodes),
// and those it does not from qSealCodes.
const qSealPostings = `SELECT p.entry_id, p.id, p.account_id, p.asset, p.amount::text, p.effective_at
FROM postings p WHERE p.entry_id BETWEEN $1 AND $2`

// qSealCodes is the codes of the accounts $1 (those whose row is gone are
// left out).
const qSealCodes = `SELECT id, code FROM accounts WHERE id = ANY($1::bigint[])`

func (c *chainEntry) scanTargets(xid *string) []any {
	return []any{&c.id, xid, &c.kind, &c.effectiveAt, &c.recordedAt, &c.actor, &c.reason, &c.reversalOf,
		&c.ruleVersion, &c.idempotencyKey, &c.metadata}
}

// sealPosting is a row of qSealPostings, with its account's code.
type sealPosting struct {
	id          int64
	account     int64
	code        string
	gone        bool // its account is gone
	asset       string
	amount      string // as PostgreSQL writes the numeric
	effectiveAt time.Time
}

// nameAccounts sets each posting's account code, from what the sealer
// remembers and the rest in one read (qSealCodes), which it then
// remembers; a posting whose account row is gone is marked so.
func (l *Ledger) nameAccounts(ctx context.Context, tx pgx.Tx, postings map[int64][]sealPosting) error {
	missing := l.codes.name(postings)
	if len(missing) == 0 {
		return nil
	}
	found := make(map[int64]string, len(missing))
	var id int64
	var code string
	rows, err := tx.Query(ctx, qSealCodes, missing)
	if err != nil {
		return err
	}
	if _, err := pgx.ForEachRow(rows, []any{&id, &code}, func() error {
		found[id] = code
		return nil
	}); err != nil {
		return err
	}
	for id, code := range found {
		l.codes.put(id, code)
	}
	for _, ps := range postings {
		for i := range ps {
			if ps[i].code == "" {
				ps[i].code, ps[i].gone = found[ps[i].account], found[ps[i].account] == ""
			}
		}
	}
	return nil
}

// renderPostings is the entry's postings as chainColumns renders them:
// "account asset amount", then " at instant" when the posting's instant
// is not the entry's, ordered by account code byte by byte (a missing
// account, "?", last), then posting id.
func renderPostings(effectiveAt time.Time, ps []sealPosting) []string {
	slices.SortFunc(ps, func(a, b sealPosting) int {
		switch {
		case a.gone != b.gone:
			if a.gone {
				return 1
			}
			return -1
		case !a.gone:
			if c := strings.Compare(a.code, b.code); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]string, len(ps))
	for i, p := range ps {
		code := p.code
		if p.gone {
			code = "?"
		}
		s := code + " " + p.asset + " " + p.amount
		if !p.effectiveAt.Equal(effectiveAt) {
			s += " at " + toCharTime(p.effectiveAt)
		}
		out[i] = s
	}
	return out
}

// toCharTime is t as chainColumns' to_char writes it. Its YYYY is the
// year of the era, with neither sign nor era ("0044" for 44 BC), where
// Go writes the astronomical year ("-0043"; 1 BC is Go's year 0).
func toCharTime(t time.Time) string {
	t = t.UTC()
	if y := t.Year(); y <= 0 {
		return fmt.Sprintf("%04d", 1-y) + t.Format(chainTime[len("2006"):])
	}
	return t.Format(chainTime)
}

// linker makes links, one after another, reusing its hash and its
// buffer (the sealer links thousands of entries a block).
type linker struct {
	h   hash.Hash
	buf []byte
}

// link is SHA-256(prev || canonical content): each field length-prefixed,
// so that no two contents render alike.
func (l *linker) link(c *chainEntry, prev []byte) []byte {
	if l.h == nil {
		l.h = sha256.New()
	}
	l.h.Reset()
	l.h.Write(prev)
	b := l.buf[:0]
	field := func(s string) { b = appendField(b, s) }
	raw := func(v []byte) { b = appendField(b, v) } // numbers and instants rendered in place
	var scratch [len(chainTime)]byte
	number := func(n uint64) { raw(strconv.AppendUint(scratch[:0], n, 10)) }
	instant := func(at time.Time) { raw(appendChainTime(scratch[:0], at)) }
	number(c.id)
	number(c.xid)
	field(c.kind)
	instant(c.effectiveAt)
	instant(c.recordedAt)
	field(c.actor)
	field(c.reason)
	if c.reversalOf == nil {
		b = append(b, '-', ',')
	} else {
		raw(strconv.AppendInt(scratch[:0], *c.reversalOf, 10))
	}
	if c.ruleVersion == nil {
		b = append(b, '-', ',')
	} else {
		raw(strconv.AppendInt(scratch[:0], int64(*c.ruleVersion), 10))
	}
	if c.idempotencyKey == nil {
		b = append(b, '-', ',')
	} else {
		field(*c.idempotencyKey)
	}
	field(c.metadata)
	number(uint64(len(c.postings)))
	for _, p := range c.postings {
		field(p)
	}
	l.h.Write(b)
	l.buf = b
	return l.h.Sum(nil)
}

// appendField appends v as a link's field: "length:value,".
func appendField[T string | []byte](b []byte, v T) []byte {
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, ':')
	b = append(b, v...)
	return append(b, ',')
}

// chainTime renders instants at PostgreSQL's precision.
const chainTime = "2006-01-02T15:04:05.000000Z"

// appendChainTime appends t in UTC as chainTime lays it out, the years 1
// to 9999 digit by digit: time's layout interpreter was 2% of the
// server's CPU under a stream of batches (two instants a link). Other
// years, which Go writes its own way, go to it.
func appendChainTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 1 || y > 9999 {
		return t.AppendFormat(b, chainTime)
	}
	h, mi, s := t.Clock()
	digits := func(n, width int) {
		start := len(b)
		b = append(b, "000000"[:width]...)
		for i := len(b) - 1; i >= start; i-- {
			b[i] += byte(n % 10)
			n /= 10
		}
	}
	digits(y, 4)
	b = append(b, '-')
	digits(int(mo), 2)
	b = append(b, '-')
	digits(d, 2)
	b = append(b, 'T')
	digits(h, 2)
	b = append(b, ':')
	digits(mi, 2)
	b = append(b, ':')
	digits(s, 2)
	b = append(b, '.')
	digits(t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

var genesis = make([]byte, sha256.Size)

// chainLock serialises sealers (one per database, whatever the number of
// servers): an advisory lock key of the chain's own.
const chainLock = 0x7a11c4a1

// Seal links up to max committed entries that are not linked yet and can
// no longer gain an earlier neighbour, as one block, and returns how many
// it linked (0: nothing to link now).
func (l *Ledger) Seal(ctx context.Context, max int) (int, error) {
	var sealed int
	var wroteSeq int64
	var wroteLink []byte
	err := l.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		sealed = 0
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, chainLock); err != nil {
			return err
		}
		var (
			seq, entry, block int64
			xid               string
			prev              = genesis
		)
		err := tx.QueryRow(ctx, `SELECT c.seq, c.entry_id, c.xid::text, c.link, c.block FROM chain_links c ORDER BY c.seq DESC LIMIT 1`).
			Scan(&seq, &entry, &xid, &prev, &block)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if xid == "" {
			xid = "0"
		}
		// The codes the sealer remembers hold while the chain holds the
		// last link it wrote (accountCodes): the head, or one read more
		// when another sealer linked after it.
		if lastSeq, lastLink := l.codes.last(); lastLink != nil {
			held := prev
			if seq != lastSeq {
				held = nil
				if err := tx.QueryRow(ctx, `SELECT link FROM chain_links WHERE seq = $1`, lastSeq).Scan(&held); err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return err
				}
			}
			if !bytes.Equal(held, lastLink) {
				l.codes.forgetAll()
			}
		}
		h, err := horizon(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+sealColumns+` FROM entries e
WHERE (e.xid, e.id) > ($1::text::xid8, $2) AND e.xid < $3::text::xid8
ORDER BY e.xid, e.id LIMIT $4`, xid, entry, strconv.FormatUint(h, 10), max)
		if err != nil {
			return err
		}
		var (
			seqs, ids []int64
			xids      []string
			links     [][]byte
			entries   []chainEntry
		)
		for rows.Next() {
			var c chainEntry
			var x string
			if err := rows.Scan(c.scanTargets(&x)...); err != nil {
				rows.Close()
				return err
			}
			if c.xid, err = strconv.ParseUint(x, 10, 64); err != nil {
				rows.Close()
				return err
			}
			entries, ids, xids = append(entries, c), append(ids, int64(c.id)), append(xids, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		postings := make(map[int64][]sealPosting, len(ids))
		for _, id := range ids {
			postings[id] = nil
		}
		rows, err = tx.Query(ctx, qSealPostings, slices.Min(ids), slices.Max(ids))
		if err != nil {
			return err
		}
		var p sealPosting
		var of int64
		if _, err := pgx.ForEachRow(rows, []any{&of, &p.id, &p.account, &p.asset, &p.amount, &p.effectiveAt}, func() error {
			if ps, ok := postings[of]; ok { // else not in this block
				postings[of] = append(ps, p)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := l.nameAccounts(ctx, tx, postings); err != nil {
			return err
		}
		var lk linker
		for i := range entries {
			c := &entries[i]
			c.postings = renderPostings(c.effectiveAt, postings[int64(c.id)])
			prev = lk.link(c, prev)
			seq++
			seqs, links = append(seqs, seq), append(links, prev)
		}
		block++
		presizeStatement(ctx, tx.Conn(), seqs, ids, xids, links, block)
		if _, err := tx.Exec(ctx, `INSERT INTO chain_links (seq, entry_id, xid, link, block)
SELECT s, e, x::xid8, k, $5 FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bytea[]) AS u (s, e, x, k)`,
			seqs, ids, xids, links, block); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO chain_blocks (id, first_seq, last_seq, head, sealed_at) VALUES ($1, $2, $3, $4, $5)`,
			block, seqs[0], seq, prev, l.now()); err != nil {
			return err
		}
		sealed, wroteSeq, wroteLink = len(ids), seq, prev
		return nil
	})
	if err != nil {
		l.codes.forgetAll() // what this attempt learned may not outlive it
	} else if sealed > 0 {
		l.codes.wrote(wroteSeq, wroteLink)
	}
	return sealed, err
}

// SealBlock is how many entries Seal links at most in one block.
const SealBlock = 5000

// SealAll seals until nothing is left to seal now, and returns how many
// entries it linked.
func (l *Ledger) SealAll(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := l.Seal(ctx, SealBlock)
		total += n
		if err != nil || n < SealBlock {
			return total, err
		}
	}
}

// RunSealer seals what committed every interval until ctx ends, at once
// again while a block comes back full. failed, when not nil, hears each
// error (the sealer carries on).
func (l *Ledger) RunSealer(ctx context.Context, every time.Duration, failed func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := l.SealAll(ctx); err != nil && ctx.Err() == nil && failed != nil {
			failed(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Head is the latest link, with how many committed entries wait to be
// sealed; before the first seal that count alone, nil with no entry at all.
func (l *Ledger) Head(ctx context.Context) (*ChainHead, error) {
	var head *ChainHead
	err := l.inTx(ctx, readOnly, func(tx pgx.Tx) error {
		var err error
		head, err = chainHead(ctx, tx)
		return err
	})
	return head, err
}

func chainHead(ctx context.Context, tx pgx.Tx) (*ChainHead, error) {
	var (
		h    ChainHead
		link []byte
		xid  string
	)
	err := tx.QueryRow(ctx, `SELECT c.seq, c.entry_id, c.xid::text, c.link, b.sealed_at
FROM chain_links c JOIN chain_blocks b ON b.id = c.block ORDER BY c.seq DESC LIMIT 1`).Scan(&h.Seq, &h.EntryID, &xid, &link, &h.SealedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		xid = "0"
	} else if err != nil {
		return nil, err
	}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM entries e WHERE (e.xid, e.id) > ($1::text::xid8, $2)`, xid, h.EntryID).
		Scan(&h.Unsealed); err != nil {
		return nil, err
	}
	if link == nil {
		if h.Unsealed == 0 {
			return nil, nil
		}
		return &ChainHead{Unsealed: h.Unsealed}, nil
	}
	h.Digest, h.xid = hex.EncodeToString(link), xid
	return &h, nil
}

// Expect is a head kept elsewhere: the link at Seq must still be Digest.
type Expect struct {
	Seq    int64
	Digest []byte
}

// chainPage is how many links Verify reads per statement.
const chainPage = 2000

// Verify walks the whole chain in one snapshot, recomputing every link
// from the entries as they are now, and names the first place where they
// disagree: an entry altered (or the chain before it), an entry missing,
// an entry inside the sealed part that is not in the chain (inserted), a
// link missing, or an entry linked twice or out of the sealer's order.
// expect, when not nil, is a head kept elsewhere that the chain must
// still hold. progress, when not nil, hears the links checked so far and
// the total, after each page.
func (l *Ledger) Verify(ctx context.Context, expect *Expect, progress func(done, total int64)) (Verification, error) {
	var v Verification
	err := l.ReadTx(ctx, func(tx *Tx) error {
		v = Verification{}
		head, err := chainHead(ctx, tx.Tx)
		if err != nil {
			return err
		}
		if head != nil && head.Digest != "" {
			v.Head = head
		}
		var total int64
		if v.Head != nil {
			total = v.Head.Seq
		}
		prev := genesis
		var lk linker
		var last int64             // the last link's seq
		var prevXid, prevID uint64 // the last link's entry: its transaction and id
		for v.Broken == nil {
			rows, err := tx.Query(ctx, `SELECT c.seq, c.entry_id, c.link, c.xid::text, e.id IS NOT NULL, `+
				chainColumns+`
FROM chain_links c LEFT JOIN entries e ON e.id = c.entry_id
WHERE c.seq > $1 ORDER BY c.seq LIMIT $2`, last, chainPage)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				n++
				var c chainEntry
				var xid *string
				var linkXid string
				var id *uint64
				var kind, actor, reason, metadata *string
				var eff, rec *time.Time
				if err := rows.Scan(&c.linkSeq, &c.linkEntry, &c.storedLink, &linkXid, &c.present,
					&id, &xid, &kind, &eff, &rec, &actor, &reason, &c.reversalOf, &c.ruleVersion, &c.idempotencyKey,
					&metadata, &c.postings); err != nil {
					rows.Close()
					return err
				}
				if c.linkSeq != last+1 {
					v.Broken = &BrokenLink{Seq: last + 1, EntryID: c.linkEntry, Problem: "gap",
						Detail: "link " + strconv.FormatInt(last+1, 10) + " is missing: the chain was cut before entry " + strconv.FormatInt(c.linkEntry, 10)}
					break
				}
				if !c.present {
					v.Broken = &BrokenLink{Seq: c.linkSeq, EntryID: c.linkEntry, Problem: "missing",
						Detail: "entry " + strconv.FormatInt(c.linkEntry, 10) + " was sealed but is gone"}
					break
				}
				c.id, c.kind, c.effectiveAt, c.recordedAt, c.actor, c.reason, c.metadata = *id, *kind, *eff, *rec, *actor, *reason, *metadata
				c.xid, _ = strconv.ParseUint(*xid, 10, 64)
				link := lk.link(&c, prev)
				if !bytes.Equal(link, c.storedLink) {
					v.Broken = &BrokenLink{Seq: c.linkSeq, EntryID: c.linkEntry, Problem: "altered",
						Detail: "entry " + strconv.FormatInt(c.linkEntry, 10) + " (or the chain before it) differs from when it was sealed"}
					break
				}
				// The link's own record of its entry's transaction is where
				// the sealer goes on from, and what the search for an entry
				// inserted inside the chain starts below: no digest covers
				// it, so it must be the entry's.
				if linkXid != *xid {
					v.Broken = &BrokenLink{Seq: c.linkSeq, EntryID: c.linkEntry, Problem: "altered",
						Detail: "link " + strconv.FormatInt(c.linkSeq, 10) + " records transaction " + linkXid + ", its entry " +
							strconv.FormatInt(c.linkEntry, 10) + " was written by " + *xid}
					break
				}
				// The sealer links entries in (transaction, id) order, each
				// once: a link whose entry does not sort after the one
				// before it is an entry linked twice, or out of order.
				if v.Checked > 0 && (c.xid < prevXid || c.xid == prevXid && c.id <= prevID) {
					v.Broken = &BrokenLink{Seq: c.linkSeq, EntryID: c.linkEntry, Problem: "out_of_order",
						Detail: "entry " + strconv.FormatInt(c.linkEntry, 10) + " is linked after entry " + strconv.FormatUint(prevID, 10) +
							", which does not sort before it in (transaction, id) order: an entry linked twice, or out of order"}
					break
				}
				if expect != nil && c.linkSeq == expect.Seq && !bytes.Equal(link, expect.Digest) {
					v.Broken = &BrokenLink{Seq: c.linkSeq, EntryID: c.linkEntry, Problem: "mismatch_with_expected",
						Detail: "link " + strconv.FormatInt(c.linkSeq, 10) + " is not the digest kept: the chain up to it was rewritten"}
					break
				}
				prev, last, prevXid, prevID = link, c.linkSeq, c.xid, c.id
				v.Checked++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if progress != nil {
				progress(v.Checked, total)
			}
			if n < chainPage {
				break
			}
		}
		if v.Broken == nil && expect != nil && expect.Seq > last {
			v.Broken = &BrokenLink{Seq: expect.Seq, Problem: "mismatch_with_expected",
				Detail: "the chain ends at link " + strconv.FormatInt(last, 10) + ", before the link kept"}
		}
		// An entry inside the sealed part of the chain that no link covers
		// was inserted there; the first one is the break if it comes
		// before the one found.
		if v.Head != nil {
			// Below the head entry's own transaction (the link's record of
			// it may have been changed). A hash anti-join: with no index on
			// the linked entry, a nested loop (chosen when most entries
			// share the head's transaction, whose rows a row comparison's
			// estimate misses) would read the links once per entry.
			if _, err := tx.Exec(ctx, `SET LOCAL enable_nestloop = off`); err != nil {
				return err
			}
			var id int64
			var xid string
			err := tx.QueryRow(ctx, `SELECT e.id, e.xid::text FROM entries e
WHERE (e.xid, e.id) < (coalesce((SELECT h.xid FROM entries h WHERE h.id = $2), $1::text::xid8), $2)
  AND NOT EXISTS (SELECT 1 FROM chain_links c WHERE c.entry_id = e.id)
ORDER BY e.xid, e.id LIMIT 1`, v.Head.xid, v.Head.EntryID).Scan(&id, &xid)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if err == nil {
				x, _ := strconv.ParseUint(xid, 10, 64)
				var seq int64
				if err := tx.QueryRow(ctx, `SELECT coalesce(min(seq), 0) FROM chain_links WHERE (xid, entry_id) > ($1::text::xid8, $2)`,
					xid, id).Scan(&seq); err != nil {
					return err
				}
				if v.Broken == nil || seq <= v.Broken.Seq {
					v.Broken = &BrokenLink{Seq: seq, EntryID: id, Problem: "unchained",
						Detail: "entry " + strconv.FormatInt(id, 10) + " (xid " + strconv.FormatUint(x, 10) + ") sorts inside the sealed chain but no link covers it: it was inserted"}
				}
			}
		}
		v.OK = v.Broken == nil
		return nil
	})
	return v, err
}
