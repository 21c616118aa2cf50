package bot

// expectAck registers that the /pay answer for id is on its way; the returned
// func marks it sent (or given up). An outcome that comes first is deferred
// (see deferOutcome) and queued again from here.
func (b *Bot) expectAck(id string) func() {
	b.acksMu.Lock()
	b.acks[id] = false
	b.acksMu.Unlock()
	return func() {
		b.acksMu.Lock()
		deferred := b.acks[id]
		delete(b.acks, id)
		b.acksMu.Unlock()
		if deferred {
			b.notifier.outcomes.enqueue(id)
		}
	}
}

// deferOutcome reports whether id's acknowledgement is still on its way; if
// so the outcome is sent when it is out, and the notifier worker moves on
// instead of waiting (an acknowledgement can sit out a flood wait).
func (b *Bot) deferOutcome(id string) bool {
	b.acksMu.Lock()
	defer b.acksMu.Unlock()
	if _, pending := b.acks[id]; !pending {
		return false
	}
	b.acks[id] = true
	return true
}
