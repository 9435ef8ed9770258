DROP TABLE dismissed_notifications;
DROP TABLE notification_marks;
DROP TABLE activities;
