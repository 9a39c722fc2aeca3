# -*- coding: utf-8 -*-
# Copyright: uwsgi.topology contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception every layer of uwsgi.topology raises for bad input."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class TopologyError(Exception):
    """Bad input, named by the path of the value at fault.

    ``path`` is the input path (``routers[1].basic_params.workers``, or
    ``host web1: uwsgi_node_subscriptions[0].router``); ``message`` says what
    is wrong and how to fix it.  ``str()`` gives ``"<path>: <message>"``.
    """

    def __init__(self, path, message):
        self.path = path
        self.message = message
        super(TopologyError, self).__init__(self.__str__())

    def __str__(self):
        if self.path:
            return '%s: %s' % (self.path, self.message)
        return self.message
