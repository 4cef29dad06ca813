//! How many weights of a NAS-Bench-201 network learn through a feedback tensor.

use burn::tensor::backend::Backend;

use super::{
    Nb201Cell, Nb201EdgeOp, Nb201MixedOp, Nb201Network, Nb201SearchCell, Nb201Skeleton,
    Nb201Supernet, ResidualBlock,
};
use crate::FeedbackLen;

impl<B: Backend> FeedbackLen for Nb201EdgeOp<B> {
    fn feedback_len(&self) -> usize {
        match self {
            Self::Conv(op) => op.feedback_len(),
            Self::Zero(_) | Self::Identity(_) | Self::Pool(_) => 0,
        }
    }
}

impl<B: Backend> FeedbackLen for ResidualBlock<B> {
    fn feedback_len(&self) -> usize {
        self.conv_a.feedback_len() + self.conv_b.feedback_len() + self.shortcut.feedback_len()
    }
}

impl<B: Backend> FeedbackLen for Nb201Skeleton<B> {
    fn feedback_len(&self) -> usize {
        let blocks: usize = self.reductions.iter().map(FeedbackLen::feedback_len).sum();
        blocks + self.stem.conv.feedback_len() + self.classifier.feedback_len()
    }
}

impl<B: Backend> FeedbackLen for Nb201MixedOp<B> {
    fn feedback_len(&self) -> usize {
        self.ops.iter().map(FeedbackLen::feedback_len).sum()
    }
}

impl<B: Backend> FeedbackLen for Nb201SearchCell<B> {
    fn feedback_len(&self) -> usize {
        self.edges.iter().map(FeedbackLen::feedback_len).sum()
    }
}

impl<B: Backend> FeedbackLen for Nb201Cell<B> {
    fn feedback_len(&self) -> usize {
        self.ops.iter().map(FeedbackLen::feedback_len).sum()
    }
}

impl<B: Backend> FeedbackLen for Nb201Network<B> {
    fn feedback_len(&self) -> usize {
        let cells: usize = self.cells.iter().map(FeedbackLen::feedback_len).sum();
        cells + self.skeleton.feedback_len()
    }
}

impl<B: Backend> FeedbackLen for Nb201Supernet<B> {
    fn feedback_len(&self) -> usize {
        let cells: usize = self.cells.iter().map(FeedbackLen::feedback_len).sum();
        cells + self.skeleton.feedback_len()
    }
}
