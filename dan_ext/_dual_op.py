"""Every op of dan_ext is written once, as an OpDefinition, and built two ways by DualOp:

- a torch.library custom op (a fake implementation gives the output shapes, register_autograd the
  gradient), so that torch.compile traces through it without graph breaks;
- a plain torch.autograd.Function, which eager calls take.

Why both, measured on the 2-core CPU machine with torch 2.13 (n = 64 rows, d = 31, the linear
MK-MMD, medians): the kernels' forward alone takes 33 us; through the custom op's dispatcher it
took 143 us, against 33 us plus ~10 us through the Function (a later rerun on a loaded machine:
372 us against 101 us for the forward, 869 us against 331 us for forward and backward). At DAN's
batch sizes the dispatcher would cost more than the kernels. The Function also returns the
kernels' one float64 buffer as it is and reads its parts by address, where a custom op's outputs
may not alias one another: cutting the buffer into named views alone costs ~20 us a call
(measured), and the copies more. So the traced path pays for views and copies, the eager path
does not, and both run the same four functions of the definition.

An OpDefinition (one class per op, static methods only):

  name, schema        the custom op's name ("dan_ext::mkmmd_forward") and its schema
  run(*args)          the kernels' forward, once: (loss, outputs, info). ``outputs``: tensors the
                      Function returns after the loss, as the kernels left them (a buffer);
                      ``info``: Python values backward needs with them (the buffer's plan)
  parts(outputs, info)  the outputs cut into the tensors the custom op returns after the loss
                      (DualOp copies them: a custom op's outputs may alias nothing)
  fake(*args)         empty tensors shaped like the custom op's (loss, *parts)
  saved(args)         what backward reads of the arguments: (tensors, a Python value or None)
  backward(grad_loss, saved, extra, needs, found)  the gradient of every argument (None where there is
                      none; a list for a list of tensors). ``needs``: needs_input_grad by argument.
                      ``found`` (Found) gives the forward's parts, their addresses and the
                      backward kernels (a Kernel) for the path that is running.

Arguments that are lists of tensors (JAN's layers) are passed to the Function one by one, so
autograd sees each; DualOp does that packing.
"""
from __future__ import annotations

from typing import Callable, Tuple

import torch
from torch import Tensor


class Kernel:
    """A pass autograd never differentiates (a backward kernel), under one name: the custom op, which
    torch.compile's traced backward calls, and the function itself, which the eager path calls. An
    address argument may be an int (eager: into the forward's buffer) or a tensor (traced: the
    custom op's output); ``fn`` takes either, through ``address()``. ``fn`` returns None for a
    gradient not asked for; the custom op returns an empty tensor there (``empty(args, i)``: the
    one for output i), since its outputs must be tensors."""

    def __init__(self, name: str, schema: str, fn: Callable, fake: Callable, empty: Callable):
        self.fn = fn

        def op_fn(*args):
            out = fn(*args)
            return type(out)(o if o is not None else empty(args, i) for i, o in enumerate(out))

        self.op = torch.library.custom_op(name, op_fn, mutates_args=(), schema=schema)
        self.op.register_fake(fake)


def address(where) -> int:
    """An int address as it is; a tensor's (made contiguous) data pointer."""
    return where if isinstance(where, int) else where.contiguous().data_ptr()


class Found:
    """What backward reads of its forward, on the path that ran it.

    Eager: the Function's outputs and info; parts are cut on demand (only the double backward and
    the stats readers need them), addresses computed without views. Traced: the custom op's parts."""
    def __init__(self, definition, outputs, info, parts, traced: bool):
        self._definition, self._outputs, self._info, self._parts, self.traced = definition, outputs, info, parts, traced

    def part(self, i: int) -> Tensor:
        if self._parts is None:
            self._parts = self._definition.parts(self._outputs, self._info)
        return self._parts[i]

    def address(self, i: int):
        """Part i's address for a Kernel: an int on the eager path (no view made), the tensor when traced."""
        if self.traced:
            return self._parts[i]
        return self._definition.address(self._outputs, self._info, i)

    def call(self, kernel: Kernel, *args):
        """Run ``kernel``: through its custom op when traced, directly when eager."""
        return (kernel.op if self.traced else kernel.fn)(*args)


def _tensor_list(a) -> bool:
    return isinstance(a, (list, tuple)) and len(a) > 0 and isinstance(a[0], Tensor)


def _pack(args) -> tuple:
    """(layout, flat): lists of tensors spread out so that autograd.Function sees every tensor."""
    layout = tuple(len(a) if _tensor_list(a) else -1 for a in args)
    flat = []
    for a, n in zip(args, layout):
        if n < 0:
            flat.append(a)
        else:
            flat.extend(a)
    return layout, flat


def _unpack(layout, flat) -> list:
    out, i = [], 0
    for n in layout:
        if n < 0:
            out.append(flat[i])
            i += 1
        else:
            out.append(list(flat[i:i + n]))
            i += n
    return out


def _pack_grads(layout, grads) -> list:
    flat = []
    for g, n in zip(grads, layout):
        if n < 0:
            flat.append(g)
        else:
            flat.extend(g if g is not None else [None] * n)
    return flat


class DualOp:
    """The custom op and the eager Function of one OpDefinition; call it like the op."""

    def __init__(self, definition, nested: bool = False):
        d = self.definition = definition
        self.nested = nested  # some arguments are lists of tensors

        def forward_op(*args):
            loss, outputs, info = d.run(*args)
            return (loss, *(p.clone() for p in d.parts(outputs, info)))

        self.op = torch.library.custom_op(d.name, forward_op, mutates_args=(), schema=d.schema)
        self.op.register_fake(d.fake)

        def setup_context(ctx, inputs, output):
            ctx.mark_non_differentiable(*output[1:])
            saved, ctx.extra = d.saved(inputs)
            ctx.save_for_backward(*saved, *output[1:])
            ctx.n_saved = len(saved)

        def backward_op(ctx, grad_loss, *_):
            tensors = ctx.saved_tensors
            found = Found(d, None, None, tensors[ctx.n_saved:], traced=True)
            return tuple(d.backward(grad_loss, tensors[:ctx.n_saved], ctx.extra, ctx.needs_input_grad, found))

        self.op.register_autograd(backward_op, setup_context=setup_context)

        class Eager(torch.autograd.Function):
            @staticmethod
            def forward(ctx, layout, *flat):
                args = _unpack(layout, flat) if layout is not None else flat
                loss, outputs, info = d.run(*args)
                ctx.mark_non_differentiable(*outputs)
                saved, ctx.extra = d.saved(args)
                ctx.save_for_backward(*saved, *outputs)
                ctx.n_saved, ctx.info, ctx.layout = len(saved), info, layout
                return (loss, *outputs, info)  # info: a Python value, passed through (no gradient)

            @staticmethod
            def backward(ctx, grad_loss, *_):
                tensors = ctx.saved_tensors
                layout = ctx.layout
                needs = ctx.needs_input_grad[1:]
                if layout is not None:
                    needs = _unpack(layout, needs)
                found = Found(d, tensors[ctx.n_saved:], ctx.info, None, traced=False)
                grads = d.backward(grad_loss, tensors[:ctx.n_saved], ctx.extra, needs, found)
                return (None, *(_pack_grads(layout, grads) if layout is not None else grads))

        Eager.__name__ = Eager.__qualname__ = f"Eager[{d.name}]"
        self.eager = Eager

    def __call__(self, *args) -> Tuple[Tensor, Found]:
        """(loss, found): under torch.compile through the custom op, else through the Function;
        ``found.part(i)`` is the forward's part i either way."""
        d = self.definition
        if torch.compiler.is_compiling():
            loss, *parts = self.op(*args)
            return loss, Found(d, None, None, parts, traced=True)
        if self.nested:
            layout, flat = _pack(args)
            loss, *outputs, info = self.eager.apply(layout, *flat)
        else:
            loss, *outputs, info = self.eager.apply(None, *args)
        return loss, Found(d, outputs, info, None, traced=False)
