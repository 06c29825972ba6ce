/*
 * gating.pml: the send state machine of multimail, checked with spin.
 *
 * What is modelled (docs/oversight-model.md explains each choice):
 *   accept   one synced batch (queue.Enqueue): message, recipients, approval record,
 *            schedule entry unless held or rejected; only then is it acknowledged.
 *   rule     decided inside accept: none (not gated), auto_approve, require_approval, reject.
 *   decide   a person approves or rejects a held message (queue.Approve/Reject), two
 *            approvers racing for the same decision.
 *   lease    a worker takes a scheduled unit (queue.Next); Complete checks that the lease
 *            is still the worker's, so a lease that was lost (expired, or returned by a
 *            restart) can no longer commit (the fencing check).
 *   attempt  the recipient MX answers 250 (the mail is out: a ghost counter), 5xx or 4xx.
 *   complete one synced batch (queue.Complete), refused when the lease was lost.
 *   expire   a scheduled unit past expires_at (queue.Next finalises it).
 *   cancel   a sender cancels: recipients not in a live attempt are cancelled at once; a
 *            live attempt's outcome stands and only what it leaves pending is cancelled.
 *   crash    the process dies: everything not committed is gone; on restart every lease
 *            returns to the schedule (queue.Open).
 *   expiry   a lease expires while its worker is slow, so a second worker (another node)
 *            may lease the same unit while the first is still talking to the MX.
 *
 * Sizes are small so the check runs in seconds: NM messages of NR recipients, NW workers,
 * at most MAXCRASH crashes and MAXEXPIRY lease expiries, MAXDEFER deferrals per recipient
 * before it fails (max_lifetime).
 *
 * Deliberately broken variants (the test shows spin catches each):
 *   -DBROKEN_ENQUEUE_BEFORE_APPROVAL  accept schedules the message, then writes the approval
 *   -DBROKEN_DECIDE_CHECK_THEN_ACT    a decision reads "pending" and writes in two steps
 *   -DBROKEN_NO_FENCING               complete does not check that it still holds the lease
 *   -DBROKEN_OPEN_DROPS_LEASES        a restart forgets leased units instead of rescheduling
 */

#ifndef NM
#define NM 2
#endif
#ifndef NR
#define NR 2
#endif
#define NW 2
#ifndef MAXCRASH
#define MAXCRASH 2
#endif
#ifndef MAXEXPIRY
#define MAXEXPIRY 1
#endif
#define MAXDEFER 1

/* approval record of a message */
#define A_NONE      0   /* not gated: no approval needed */
#define A_PENDING   1
#define A_APPROVED  2   /* by a person */
#define A_AUTO      3   /* by an auto_approve rule */
#define A_REJECTED  4   /* by a person or a reject rule */
#define A_CANCELLED 5   /* the sender cancelled a held message: closed, not decided */

/* recipient state */
#define R_NONE      0   /* not accepted (yet) */
#define R_PENDING   1
#define R_DELIVERED 2
#define R_BOUNCED   3
#define R_FAILED    4
#define R_EXPIRED   5
#define R_CANCELLED 6
#define R_REJECTED  7

/* outcome of one attempt for one recipient */
#define O_NONE  0
#define O_OK    1
#define O_5XX   2
#define O_4XX   3

#define IDX(m, r) ((m) * NR + (r))

/* ---- persisted state (survives a crash) ---- */
bool acked[NM];
bool gated[NM];
byte appr[NM];
byte rst[NM * NR];
bool sched[NM];
bool cancelReq[NM];
byte defers[NM * NR];

/* ---- volatile state (lost in a crash) ---- */
byte lease[NM];       /* 0: none; w+1: held by worker w */

/* ---- ghosts: what the world saw, for the properties ---- */
byte terminal[NM * NR];   /* terminal states recorded */
byte mxGot[NM * NR];      /* copies the recipient MX accepted */
byte lostCommit[NM * NR]; /* MX 250s whose commit never happened (crash or lost lease) */
byte decisions[NM];
byte crashes;
byte expiries;
byte busy;                /* workers inside an attempt */

/* A recipient reaches a terminal state: exactly once, ever. */
inline finish(i, st) {
	assert(terminal[i] == 0);
	rst[i] = st;
	terminal[i]++
}

/* pendingOf(m, p): whether message m has a pending recipient */
inline pendingOf(m, p) {
	p = false;
	for (k : 0 .. NR - 1) {
		if
		:: rst[IDX(m, k)] == R_PENDING -> p = true
		:: else -> skip
		fi
	}
	k = 0
}

/* release(m): a unit leaves a lease (or its hold): cancelled if the sender asked, else
 * scheduled again while a recipient is pending. */
inline release(m) {
	if
	:: cancelReq[m] ->
		for (k : 0 .. NR - 1) {
			if
			:: rst[IDX(m, k)] == R_PENDING -> finish(IDX(m, k), R_CANCELLED)
			:: else -> skip
			fi
		}
		k = 0;
		sched[m] = false
	:: else ->
		pendingOf(m, p);
		sched[m] = p;
		p = false
	fi
}

proctype client(byte m) {
	byte k;
	bool p;
#ifdef BROKEN_ENQUEUE_BEFORE_APPROVAL
	atomic {
		if
		:: gated[m] = true
		:: gated[m] = false
		fi;
		for (k : 0 .. NR - 1) { rst[IDX(m, k)] = R_PENDING }
		k = 0;
		sched[m] = true;
		acked[m] = true
	}
	atomic {
		if
		:: gated[m] -> appr[m] = A_PENDING; sched[m] = false
		:: else -> appr[m] = A_NONE
		fi
	}
#else
	atomic {
		/* the mailbox's mode and the first matching rule */
		if
		:: gated[m] = false; appr[m] = A_NONE
		:: gated[m] = true; appr[m] = A_PENDING
		:: gated[m] = true; appr[m] = A_AUTO
		:: gated[m] = true; appr[m] = A_REJECTED
		fi;
		for (k : 0 .. NR - 1) {
			if
			:: appr[m] == A_REJECTED -> rst[IDX(m, k)] = R_PENDING; finish(IDX(m, k), R_REJECTED)
			:: else -> rst[IDX(m, k)] = R_PENDING
			fi
		}
		k = 0;
		sched[m] = (appr[m] == A_NONE || appr[m] == A_AUTO);
		acked[m] = true
	}
#endif
}

/* decide(mm): a person decides the held message mm, once */
inline decide(mm) {
	decisions[mm]++;
	assert(decisions[mm] == 1);
	if
	:: appr[mm] = A_APPROVED; release(mm)
	:: appr[mm] = A_REJECTED;
		for (k : 0 .. NR - 1) {
			if
			:: rst[IDX(mm, k)] == R_PENDING -> finish(IDX(mm, k), R_REJECTED)
			:: else -> skip
			fi
		}
		k = 0
	fi
}

proctype approver() {
	byte k;
	bool p;
end:
	do
#ifdef BROKEN_DECIDE_CHECK_THEN_ACT
	/* reads "pending", then decides in a second step: two approvers both decide */
	:: appr[0] == A_PENDING -> atomic { decide(0) }
#if NM > 1
	:: appr[1] == A_PENDING -> atomic { decide(1) }
#endif
#else
	:: atomic { appr[0] == A_PENDING -> decide(0) }
#if NM > 1
	:: atomic { appr[1] == A_PENDING -> decide(1) }
#endif
#endif
	od
}

/* takeLease(mm): queue.Next leases the unit of message mm to this worker */
inline takeLease(mm) {
	sched[mm] = false;
	lease[mm] = w + 1;
	busy++;
	/* no message reaches delivery without an approval record when gated */
	assert(!gated[mm] || appr[mm] == A_APPROVED || appr[mm] == A_AUTO);
	assert(appr[mm] != A_REJECTED && appr[mm] != A_CANCELLED)
}

proctype worker(byte w) {
	byte m, i, k;
	bool p;
	byte out[NR];
end:
	do
	:: atomic { sched[0] && lease[0] == 0 -> m = 0; takeLease(m) }
		goto attempt
#if NM > 1
	:: atomic { sched[1] && lease[1] == 0 -> m = 1; takeLease(m) }
#endif
attempt:
		/* the SMTP attempt: one outcome per pending recipient (the MX's 250 is final for it) */
		atomic {
			for (i : 0 .. NR - 1) {
				if
				:: rst[IDX(m, i)] == R_PENDING ->
					if
					:: out[i] = O_OK; mxGot[IDX(m, i)]++
					:: out[i] = O_5XX
					:: out[i] = O_4XX
					fi
				:: else -> out[i] = O_NONE
				fi
			}
			i = 0
		};
		/* Complete: one synced batch, only with the lease still ours */
		atomic {
			if
#ifdef BROKEN_NO_FENCING
			:: true ->
#else
			:: lease[m] == w + 1 ->
#endif
				for (i : 0 .. NR - 1) {
					if
					:: out[i] == O_OK -> finish(IDX(m, i), R_DELIVERED)
					:: out[i] == O_5XX -> finish(IDX(m, i), R_BOUNCED)
					:: out[i] == O_4XX && defers[IDX(m, i)] >= MAXDEFER -> finish(IDX(m, i), R_FAILED)
					:: out[i] == O_4XX && defers[IDX(m, i)] < MAXDEFER -> defers[IDX(m, i)]++
					:: else -> skip
					fi
				}
				i = 0;
				lease[m] = 0;
				release(m)
			:: else ->
				/* the lease was lost: nothing is recorded, the unit is (or will be) leased
				 * again, and an MX 250 of this attempt becomes a possible duplicate */
				for (i : 0 .. NR - 1) {
					if
					:: out[i] == O_OK -> lostCommit[IDX(m, i)]++
					:: else -> skip
					fi
				}
				i = 0
			fi;
			for (i : 0 .. NR - 1) { out[i] = O_NONE }
			i = 0;
			m = 0;
			busy--
		}
	od
}

/* The world outside the happy path: crashes, lease expiries, expires_at, cancel. */
/* expireLease(mm): a lease runs out while its worker is slow (or its node is gone) */
inline expireLease(mm) {
	expiries++;
	lease[mm] = 0;
	release(mm)
}

/* expireMsg(mm): expires_at passed; queue.Next finalises a due unit instead of leasing it */
inline expireMsg(mm) {
	for (k : 0 .. NR - 1) {
		if
		:: rst[IDX(mm, k)] == R_PENDING -> finish(IDX(mm, k), R_EXPIRED)
		:: else -> skip
		fi
	}
	k = 0;
	sched[mm] = false
}

/* cancel(mm): cancel_message, once, by the sender */
inline cancel(mm) {
	cancelReq[mm] = true;
	if
	:: appr[mm] == A_PENDING -> appr[mm] = A_CANCELLED
	:: else -> skip
	fi;
	if
	:: lease[mm] == 0 -> release(mm)
	:: else -> skip  /* the live attempt's outcome stands; Complete cancels the rest */
	fi
}

proctype faults() {
	byte m, k;
	bool p;
end:
	do
	:: atomic {
		crashes < MAXCRASH ->
		crashes++;
		/* Open: every lease returns to the schedule; no old worker can commit */
		for (m : 0 .. NM - 1) {
			if
#ifdef BROKEN_OPEN_DROPS_LEASES
			:: lease[m] != 0 -> lease[m] = 0
#else
			:: lease[m] != 0 -> lease[m] = 0; release(m)
#endif
			:: else -> skip
			fi
		}
		m = 0
	   }
	:: atomic { expiries < MAXEXPIRY && lease[0] != 0 -> m = 0; expireLease(m) }
#if NM > 1
	:: atomic { expiries < MAXEXPIRY && lease[1] != 0 -> m = 1; expireLease(m) }
#endif
	:: atomic { sched[0] && lease[0] == 0 -> m = 0; expireMsg(m) }
#if NM > 1
	:: atomic { sched[1] && lease[1] == 0 -> m = 1; expireMsg(m) }
#endif
	:: atomic { acked[0] && !cancelReq[0] -> m = 0; cancel(m) }
#if NM > 1
	:: atomic { acked[1] && !cancelReq[1] -> m = 1; cancel(m) }
#endif
	od
}

/* The end state: every acknowledged recipient has exactly one terminal state, and what
 * the MX received agrees with it. */
#define settled1(m) (acked[m] && appr[m] != A_PENDING && lease[m] == 0 && !sched[m])
#if NM > 1
#define settled (settled1(0) && settled1(1) && busy == 0)
#else
#define settled (settled1(0) && busy == 0)
#endif

proctype checker() {
	byte i;
	settled;
	atomic {
		for (i : 0 .. NM * NR - 1) {
			assert(terminal[i] == 1);
			/* delivery is at-least-once: a second copy only from a lost commit */
			assert(mxGot[i] <= 1 + lostCommit[i]);
			if
			:: rst[i] == R_DELIVERED -> assert(mxGot[i] >= 1)
			/* rejected mail never reached an MX */
			:: rst[i] == R_REJECTED -> assert(mxGot[i] == 0)
			/* cancelled or failed mail reached one only in a lost-commit window */
			:: else -> assert(mxGot[i] <= lostCommit[i])
			fi
		}
	}
}

init {
	atomic {
		run client(0);
#if NM > 1
		run client(1);
#endif
		run approver();
		run approver();
		run worker(0);
		run worker(1);
		run faults();
		run checker()
	}
}

#ifdef LIVENESS
/* Every acknowledged message settles, given fair workers and approvers and a bounded number
 * of faults (a person who never decides is outside the model: the approvers always do). */
ltl settles { <> settled }
#endif
