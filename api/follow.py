"""Where ``tilik api``'s views followed topics from before ``topics.follow`` held the mechanism (the
connector runtime follows the sealed credentials with it too): the same class, by its old name."""

from topics.follow import Fold, FollowedTopic

__all__ = ["Fold", "FollowedTopic"]
