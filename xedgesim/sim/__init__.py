"""The virtual-time kernel and what it moves: event queue, RNG streams, network links, faults."""
