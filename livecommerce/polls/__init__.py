"""Polls and quizzes in a room: one question at a time, one vote per account."""
