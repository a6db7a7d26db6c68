package xfrm

import "context"

// Primitives are the single-object operations a CHILD_SA install is made of.
type Primitives interface {
	InstallState(context.Context, *State) error
	DeleteState(context.Context, StateID) error
	InstallPolicy(context.Context, *Policy) error
	DeletePolicy(context.Context, *Policy) error
}

// InstallChildSA installs c through k: inbound state, outbound state, then
// policies, removing what it installed when a step fails. Handle and
// xfrmtest.Fake share it so that both roll back the same way.
func InstallChildSA(ctx context.Context, k Primitives, c *ChildSA) (err error) {
	if err := c.Validate(); err != nil {
		return err
	}
	var undo []func()
	defer func() {
		if err != nil {
			// Roll back with a fresh context: the caller's may be what failed.
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	bg := context.WithoutCancel(ctx)
	if err := k.InstallState(ctx, &c.In); err != nil {
		// The larval state from AllocSPI is ours to remove as well.
		_ = k.DeleteState(bg, c.In.ID())
		return err
	}
	undo = append(undo, func() { _ = k.DeleteState(bg, c.In.ID()) })
	if err := k.InstallState(ctx, &c.Out); err != nil {
		return err
	}
	undo = append(undo, func() { _ = k.DeleteState(bg, c.Out.ID()) })
	if c.NoPolicies {
		return nil
	}
	for _, p := range c.Policies() {
		if err := k.InstallPolicy(ctx, &p); err != nil {
			return err
		}
		undo = append(undo, func() { _ = k.DeletePolicy(bg, &p) })
	}
	return nil
}
