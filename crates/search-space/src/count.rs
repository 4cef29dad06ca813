//! How many weights learn through a feedback tensor.

use burn::tensor::backend::Backend;

use crate::Network;
use crate::cell::{Cell, Preprocess, SearchCell};
use crate::edge::EdgeOp;
use crate::final_net::{AuxiliaryHead, ImageNetStem, NetworkStem};
use crate::layers::{DwPwBn, FactorizedReduce, ReluConvBn, SepConv};
use crate::network::{Stem, Supernet};

/// Counts the weights that send their error through a feedback tensor other than the
/// forward weight: one feedback value each, whether stored (FA, frSF) or computed on the
/// fly (uSF, brSF). Reference implementations that keep a feedback buffer for every rule
/// layer report this number as their feedback size.
pub trait FeedbackLen {
    /// The number of such weights.
    fn feedback_len(&self) -> usize;
}

impl<B: Backend> FeedbackLen for ReluConvBn<B> {
    fn feedback_len(&self) -> usize {
        self.conv.feedback_len()
    }
}

impl<B: Backend> FeedbackLen for DwPwBn<B> {
    fn feedback_len(&self) -> usize {
        self.depthwise.feedback_len() + self.pointwise.feedback_len()
    }
}

impl<B: Backend> FeedbackLen for SepConv<B> {
    fn feedback_len(&self) -> usize {
        self.first.feedback_len() + self.second.feedback_len()
    }
}

impl<B: Backend> FeedbackLen for FactorizedReduce<B> {
    fn feedback_len(&self) -> usize {
        self.even.feedback_len() + self.odd.feedback_len()
    }
}

impl<B: Backend> FeedbackLen for EdgeOp<B> {
    fn feedback_len(&self) -> usize {
        match self {
            Self::Zero(_) | Self::Identity(_) | Self::Pool(_) => 0,
            Self::Reduce(op) => op.feedback_len(),
            Self::Sep(op) => op.feedback_len(),
            Self::Dil(op) => op.feedback_len(),
        }
    }
}

impl<B: Backend> FeedbackLen for Preprocess<B> {
    fn feedback_len(&self) -> usize {
        match self {
            Self::Conv(op) => op.feedback_len(),
            Self::Reduce(op) => op.feedback_len(),
        }
    }
}

impl<B: Backend> FeedbackLen for Stem<B> {
    fn feedback_len(&self) -> usize {
        self.conv.feedback_len()
    }
}

impl<B: Backend> FeedbackLen for ImageNetStem<B> {
    fn feedback_len(&self) -> usize {
        [&self.conv0, &self.conv1, &self.conv2]
            .iter()
            .map(|c| c.feedback_len())
            .sum()
    }
}

impl<B: Backend> FeedbackLen for NetworkStem<B> {
    fn feedback_len(&self) -> usize {
        match self {
            Self::Cifar(stem) => stem.feedback_len(),
            Self::ImageNet(stem) => stem.feedback_len(),
        }
    }
}

impl<B: Backend> FeedbackLen for AuxiliaryHead<B> {
    fn feedback_len(&self) -> usize {
        self.conv1.feedback_len() + self.conv2.feedback_len() + self.classifier.feedback_len()
    }
}

impl<B: Backend> FeedbackLen for Cell<B> {
    fn feedback_len(&self) -> usize {
        let ops: usize = self.ops.iter().map(FeedbackLen::feedback_len).sum();
        ops + self.pre0.feedback_len() + self.pre1.feedback_len()
    }
}

impl<B: Backend> FeedbackLen for SearchCell<B> {
    fn feedback_len(&self) -> usize {
        let ops = self
            .edges
            .iter()
            .flat_map(|e| &e.ops)
            .map(FeedbackLen::feedback_len);
        ops.sum::<usize>() + self.pre0.feedback_len() + self.pre1.feedback_len()
    }
}

impl<B: Backend> FeedbackLen for Network<B> {
    fn feedback_len(&self) -> usize {
        let cells: usize = self.cells.iter().map(FeedbackLen::feedback_len).sum();
        let head = self.auxiliary.as_ref().map_or(0, FeedbackLen::feedback_len);
        cells + self.stem.feedback_len() + self.classifier.feedback_len() + head
    }
}

impl<B: Backend> FeedbackLen for Supernet<B> {
    fn feedback_len(&self) -> usize {
        let cells: usize = self.cells.iter().map(FeedbackLen::feedback_len).sum();
        cells + self.stem.feedback_len() + self.classifier.feedback_len()
    }
}
