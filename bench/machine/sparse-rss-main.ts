import { sparseRssChild } from './sparse-rss.js';

sparseRssChild();
